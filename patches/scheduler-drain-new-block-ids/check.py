"""Behaviour check of scheduler-drain-new-block-ids: vLLM's own ``Scheduler``, run for a while.

A real ``Scheduler`` over a tiny full-attention KV cache (a pool of 32 blocks
of 4 tokens; no Mamba layers, so no KV cache zeroing) serves three waves of
requests through ``schedule()`` and ``update_from_output()``, as the engine
core drives it. Each request takes new blocks as it grows; the blocks go back
to the pool when it finishes and are handed out again to the next wave.

- The bug: the ids of the new blocks pile up in the KV cache managers
  (``new_block_ids``), one per block handed out, for the whole run: at the
  end they outnumber the blocks in the pool. It shows here when the ids left
  recorded after the last step exceed the pool, or grow across the waves.
- What must not change: with KV cache zeroing on (the scheduler's
  ``needs_kv_cache_zeroing``, which vLLM sets for Mamba models), every block
  the scheduler hands out is still sent to the worker for zeroing
  (``SchedulerOutput.new_block_ids_to_zero``), once. The flag is set on a
  second scheduler of the same cache: in the affected releases (0.17.1 to
  0.25.1) the managers record every attention block whatever the flag, so
  this is the path a Mamba model's scheduler takes. (From 0.26.0 on they
  record only when built for zeroing, so this half is for affected releases.)

``run()`` is called in a process whose ``vllm`` is the tree under test
(patched or not, as the verifier arranged) and says whether the bug shows.
"""

DEVICE = "cpu"

BLOCK_SIZE = 4
NUM_BLOCKS = 32
MAX_SEQS = 4
WAVES = 3
PROMPT_LEN = 8
OUTPUT_LEN = 16  # 24 tokens: 6 blocks a request, 24 blocks a wave of 4


def _model_dir() -> str:
    """A model folder holding only a tiny config.json: ModelConfig reads it offline."""
    import json
    import os
    import tempfile

    folder = tempfile.mkdtemp(prefix="vllm-patches-sched-")
    config = {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"],
        "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2,
        "num_key_value_heads": 2, "num_hidden_layers": 1, "vocab_size": 256,
        "max_position_embeddings": 256, "torch_dtype": "float32",
    }
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f)
    return folder


def _scheduler(model_dir: str):
    import torch
    from vllm.config import (
        CacheConfig,
        DeviceConfig,
        ModelConfig,
        SchedulerConfig,
        VllmConfig,
    )
    from vllm.v1.core.sched.scheduler import Scheduler
    from vllm.v1.kv_cache_interface import (
        FullAttentionSpec,
        KVCacheConfig,
        KVCacheGroupSpec,
    )
    from vllm.v1.structured_output import StructuredOutputManager

    max_len = 128
    model_config = ModelConfig(model=model_dir, skip_tokenizer_init=True,
                               dtype="float32", max_model_len=max_len, seed=0)
    scheduler_config = SchedulerConfig(
        max_num_seqs=MAX_SEQS, max_num_batched_tokens=max_len, max_model_len=max_len,
        is_encoder_decoder=False, enable_chunked_prefill=True)
    cache_config = CacheConfig(block_size=BLOCK_SIZE, enable_prefix_caching=False)
    vllm_config = VllmConfig(model_config=model_config, scheduler_config=scheduler_config,
                             cache_config=cache_config, device_config=DeviceConfig("cpu"))
    cache_config.num_gpu_blocks = NUM_BLOCKS
    spec = FullAttentionSpec(block_size=BLOCK_SIZE, num_kv_heads=1, head_size=8,
                             dtype=torch.float32)
    kv_cache_config = KVCacheConfig(
        num_blocks=NUM_BLOCKS, kv_cache_tensors=[],
        kv_cache_groups=[KVCacheGroupSpec(["layer.0"], spec)])
    return Scheduler(vllm_config=vllm_config, kv_cache_config=kv_cache_config,
                     structured_output_manager=StructuredOutputManager(vllm_config),
                     block_size=BLOCK_SIZE, log_stats=False)


def _recorded(scheduler) -> int:
    """How many new block ids the KV cache managers hold now."""
    return sum(len(m.new_block_ids)
               for m in scheduler.kv_cache_manager.coordinator.single_type_managers)


def _handed_out(output) -> list[int]:
    """The ids of the blocks this step gave to requests (new and running ones)."""
    ids = []
    for req in output.scheduled_new_reqs:
        for group in req.block_ids:
            ids.extend(group)
    for new in output.scheduled_cached_reqs.new_block_ids:
        for group in new or ():
            ids.extend(group)
    return ids


def _serve(scheduler) -> dict:
    """Three waves of requests, each run to the end; what was recorded and zeroed."""
    from vllm.sampling_params import SamplingParams
    from vllm.v1.outputs import ModelRunnerOutput
    from vllm.v1.request import Request

    params = SamplingParams(max_tokens=OUTPUT_LEN, ignore_eos=True)
    after_wave, handed, zeroed, steps = [], [], [], 0
    for wave in range(WAVES):
        for i in range(MAX_SEQS):
            scheduler.add_request(Request(
                request_id=f"w{wave}-r{i}", prompt_token_ids=[1 + i] * PROMPT_LEN,
                sampling_params=params, pooling_params=None))
        while scheduler.requests:
            steps += 1
            if steps > 500:
                raise RuntimeError("the requests did not finish in 500 steps")
            output = scheduler.schedule()
            handed.extend(_handed_out(output))
            zeroed.extend(getattr(output, "new_block_ids_to_zero", None) or ())
            req_ids = list(output.num_scheduled_tokens)
            runner_output = ModelRunnerOutput(
                req_ids=req_ids, req_id_to_index={r: k for k, r in enumerate(req_ids)},
                sampled_token_ids=[[7] for _ in req_ids])
            scheduler.update_from_output(output, runner_output)
        after_wave.append(_recorded(scheduler))
    return {"after_wave": after_wave, "handed": handed, "zeroed": zeroed, "steps": steps}


def run() -> dict:
    import itertools
    import os
    import shutil

    from vllm_patches.verify.stand_ins import stand_in_for_missing

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # vllm.v1.request imports the structured-output backends at load; never called here.
    stand_ins = stand_in_for_missing()
    model_dir = _model_dir()
    try:
        plain = _serve(_scheduler(model_dir))
        zeroing = _scheduler(model_dir)
        zeroing.needs_kv_cache_zeroing = True  # as vLLM sets it for a model with Mamba layers
        zero = _serve(zeroing)
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)

    held = plain["after_wave"]
    grows = held[-1] > NUM_BLOCKS or any(b > a for a, b in itertools.pairwise(held))
    zeroing_kept = sorted(zero["zeroed"]) == sorted(zero["handed"]) and zero["handed"]

    detail = (f"no zeroing: {len(plain['handed'])} blocks handed out over {plain['steps']} "
              f"steps from a pool of {NUM_BLOCKS}; new block ids left recorded after each "
              f"wave: {held}. With zeroing: {len(zero['zeroed'])} of "
              f"{len(zero['handed'])} blocks handed out sent for zeroing"
              f"{'' if zeroing_kept else ' (NOT all, once each)'}, "
              f"{zero['after_wave'][-1]} left recorded"
              + (f"; stand-ins for {', '.join(stand_ins)}" if stand_ins else ""))
    return {"bug": bool(grows or not zeroing_kept), "detail": detail}
