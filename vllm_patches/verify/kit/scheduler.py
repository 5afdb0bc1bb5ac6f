"""vLLM's own objects over the tiny model: its ``ModelConfig``, and a v1 ``Scheduler`` over
a small full-attention KV cache (no Mamba layers, no KV cache tensors: the scheduler only
keeps the books), driven as the engine core drives it. vLLM is imported when called."""

from __future__ import annotations

from vllm_patches.verify.kit.model import TinyModel


def model_config(model: TinyModel, **overrides):
    """vLLM's ``ModelConfig`` over ``model`` (its tokenizer too), float32, 64 tokens long
    unless ``overrides`` say otherwise."""
    from vllm.config import ModelConfig

    options = {"tokenizer": str(model), "dtype": "float32", "max_model_len": 64, **overrides}
    return ModelConfig(model=str(model), **options)


def tiny_scheduler(model: TinyModel, *, block_size: int = 4, num_blocks: int = 32,
                   max_seqs: int = 4, max_len: int = 128):
    """A real ``Scheduler``: ``num_blocks`` blocks of ``block_size`` tokens, at most
    ``max_seqs`` requests at once, of at most ``max_len`` tokens (chunked prefill on,
    prefix caching off)."""
    import torch
    from vllm.config import CacheConfig, DeviceConfig, SchedulerConfig, VllmConfig
    from vllm.v1.core.sched.scheduler import Scheduler
    from vllm.v1.kv_cache_interface import FullAttentionSpec, KVCacheConfig, KVCacheGroupSpec
    from vllm.v1.structured_output import StructuredOutputManager

    scheduler_config = SchedulerConfig(
        max_num_seqs=max_seqs, max_num_batched_tokens=max_len, max_model_len=max_len,
        is_encoder_decoder=False, enable_chunked_prefill=True)
    cache_config = CacheConfig(block_size=block_size, enable_prefix_caching=False)
    vllm_config = VllmConfig(
        model_config=model_config(model, skip_tokenizer_init=True, max_model_len=max_len,
                                  seed=0),
        scheduler_config=scheduler_config, cache_config=cache_config,
        device_config=DeviceConfig("cpu"))
    cache_config.num_gpu_blocks = num_blocks
    spec = FullAttentionSpec(block_size=block_size, num_kv_heads=1, head_size=8,
                             dtype=torch.float32)
    kv_cache_config = KVCacheConfig(num_blocks=num_blocks, kv_cache_tensors=[],
                                    kv_cache_groups=[KVCacheGroupSpec(["layer.0"], spec)])
    return Scheduler(vllm_config=vllm_config, kv_cache_config=kv_cache_config,
                     structured_output_manager=StructuredOutputManager(vllm_config),
                     block_size=block_size, log_stats=False)


def feed_back(scheduler, output, token: int = 7):
    """Feed ``output`` (what ``scheduler.schedule()`` gave) back as the model's: one
    sampled ``token`` for each request it scheduled."""
    from vllm.v1.outputs import ModelRunnerOutput

    req_ids = list(output.num_scheduled_tokens)
    return scheduler.update_from_output(output, ModelRunnerOutput(
        req_ids=req_ids, req_id_to_index={r: i for i, r in enumerate(req_ids)},
        sampled_token_ids=[[token] for _ in req_ids]))
