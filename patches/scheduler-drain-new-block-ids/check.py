"""Behaviour check of scheduler-drain-new-block-ids: vLLM's own ``Scheduler``, run a while.

The kit's real ``Scheduler`` (32 blocks of 4 tokens, full attention only) serves three
waves of four requests to the end; their blocks go back to the pool and out again.
The bug: the ids of new blocks pile up in the KV cache managers (``new_block_ids``), one
per block handed out, beyond the pool or growing across the waves. What must not change:
with KV cache zeroing on (``needs_kv_cache_zeroing``, as vLLM sets it for Mamba models),
every block handed out is still sent for zeroing (``new_block_ids_to_zero``), once.
"""

import itertools

from vllm_patches.verify import kit

DEVICE = "cpu"
POOL = 32


def _serve(scheduler) -> tuple[list[int], list[int], list[int]]:
    """Three waves of four 24-token requests: ids left recorded after each wave, the blocks
    handed out to requests and those sent for zeroing."""
    from vllm.sampling_params import SamplingParams
    from vllm.v1.request import Request

    held, handed, zeroed = [], [], []
    for wave in range(3):
        for i in range(4):
            scheduler.add_request(Request(
                request_id=f"w{wave}-r{i}", prompt_token_ids=[1 + i] * 8, pooling_params=None,
                sampling_params=SamplingParams(max_tokens=16, ignore_eos=True)))
        for _ in range(500):  # the wave, to its end
            output = scheduler.schedule()
            handed += [b for r in output.scheduled_new_reqs for g in r.block_ids for b in g]
            handed += [b for new in output.scheduled_cached_reqs.new_block_ids
                       for g in new or () for b in g]
            zeroed += getattr(output, "new_block_ids_to_zero", None) or ()
            kit.feed_back(scheduler, output)
            if not scheduler.requests:
                break
        else:
            raise RuntimeError("a wave of requests did not finish in 500 steps")
        held.append(sum(len(m.new_block_ids)
                        for m in scheduler.kv_cache_manager.coordinator.single_type_managers))
    return held, handed, zeroed


def run() -> kit.Finding:
    kit.stand_in_for_missing()  # vllm.v1.request imports the structured-output backends
    with kit.tiny_model() as model:
        held, handed, _ = _serve(kit.tiny_scheduler(model, num_blocks=POOL))
        zeroing = kit.tiny_scheduler(model, num_blocks=POOL)
        zeroing.needs_kv_cache_zeroing = True  # as vLLM sets it for a model with Mamba layers
        _, handed_z, zeroed = _serve(zeroing)
    grows = held[-1] > POOL or any(b > a for a, b in itertools.pairwise(held))
    zeroing_kept = bool(handed_z) and sorted(zeroed) == sorted(handed_z)
    return kit.Finding(grows or not zeroing_kept,
                       f"no zeroing: {len(handed)} blocks handed out from a pool of {POOL}; new "
                       f"block ids left recorded after each wave: {held}. With zeroing: "
                       f"{len(zeroed)} of {len(handed_z)} blocks handed out sent for zeroing"
                       + ("" if zeroing_kept else " (NOT all, once each)"))
