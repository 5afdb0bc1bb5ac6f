"""What the scheduler-drain-new-block-ids fix adds to ``Scheduler.schedule`` per engine step.

A real vLLM ``Scheduler`` (the release on PYTHONPATH; 0.25.1 is the one
reported) over a full-attention KV cache of 16-token blocks holds R running
requests in decode (prompts of 128-143 tokens, so that R/16 of them take a new
block each step, as in a server), driven by ``schedule()`` and
``update_from_output()`` as the engine core drives it. Only ``schedule()`` is
timed. The fix is applied once at run time (``vllm_patches.runtime``): the
unpatched arm calls vLLM's own schedule, which the class keeps as
``_vllm_patches_orig_schedule``, the patched arm the fix; one step of each in a
random order, so both arms see the same machine load and the same states.

Times are this thread's CPU time (time.thread_time_ns): time spent descheduled
on a shared machine is not counted. Printed, for each R:
  unpatched / patched   median us per schedule() call
  overhead              patched - unpatched, in us and in % (the patched arm also
                        drains what the unpatched step before it recorded)
  added work            the wrapper alone, timed apart: a patched call whose
                        vLLM schedule is a stub that records R/16 block ids,
                        minus the stub called directly (what the fix costs,
                        without the noise of a whole schedule())

Usage (the structured-output backends and diskcache that vllm.v1.request imports are
stood in for where not installed; none of them is called):
    PYTHONPATH=~/.cache/vllm-patches/releases/0.25.1:. \\
        python benchmarks/scheduler_overhead.py [--running 64,128,256] [--steps 1000]
"""

from __future__ import annotations

import argparse
import atexit
import functools
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from vllm_patches.verify import kit

kit.offline()
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")

REPO = Path(__file__).resolve().parent.parent
PATCH = REPO / "patches" / "scheduler-drain-new-block-ids"
BLOCK = 16
PROMPT = 128
MAX_LEN = 8192
# CPU time of this thread: time spent descheduled on a loaded machine is not counted.
CLOCK = time.thread_time_ns


@functools.cache
def tiny_model() -> kit.TinyModel:
    folder = tempfile.mkdtemp(prefix="vllm-patches-bench-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return kit.write_tiny_model(folder, weights=False, max_positions=MAX_LEN)


def make_scheduler(running: int, steps: int):
    blocks = running * ((PROMPT + BLOCK + steps) // BLOCK + 2) + 16
    return kit.tiny_scheduler(tiny_model(), block_size=BLOCK, num_blocks=blocks,
                              max_seqs=running, max_len=MAX_LEN)


def step(scheduler, schedule=None) -> float:
    start = CLOCK()
    out = scheduler.schedule() if schedule is None else schedule(scheduler)
    took = CLOCK() - start
    kit.feed_back(scheduler, out)
    return took / 1000


def measure(running: int, steps: int, patch) -> dict:
    from vllm.sampling_params import SamplingParams
    from vllm.v1.core.sched.scheduler import Scheduler
    from vllm.v1.request import Request

    from vllm_patches.runtime import patcher as runtime

    total = 2 * steps + 64
    scheduler = make_scheduler(running, total)
    params = SamplingParams(max_tokens=total + 16, ignore_eos=True)
    for i in range(running):
        # Prompts of 128-143 tokens: the requests cross block boundaries at different
        # steps, running/16 new blocks a step, as in a server (not all in one step).
        scheduler.add_request(Request(request_id=f"r{i}",
                                      prompt_token_ids=[i % 200 + 1] * (PROMPT + i % BLOCK),
                                      sampling_params=params, pooling_params=None))
    for _ in range(32):  # prefills, then steady decode
        step(scheduler)
    assert len(scheduler.running) == running, len(scheduler.running)
    times = {"unpatched": [], "patched": []}
    order = random.Random(0)
    # Applied once: Scheduler.schedule is the fix, and vLLM's own schedule stays in the
    # class as _vllm_patches_orig_schedule. Each arm calls its own, so the class is not
    # changed between steps (that would throw away the interpreter's attribute caches).
    assert [o.outcome for o in runtime.apply_patches([patch])] == [runtime.APPLIED]
    try:
        schedules = {"unpatched": Scheduler._vllm_patches_orig_schedule,
                     "patched": Scheduler.schedule}
        for _ in range(steps):
            # One step of each arm, in a random order: both see the same load and state.
            arms = ["unpatched", "patched"]
            order.shuffle(arms)
            for arm in arms:
                times[arm].append(step(scheduler, schedules[arm]))
    finally:
        runtime.revert_patches([patch])
    return {"unpatched": statistics.median(times["unpatched"]),
            "patched": statistics.median(times["patched"])}


def added_work(running: int, patch, calls: int = 20000) -> float:
    """us per call that the wrapper adds around a stub schedule recording running/16 ids."""
    from vllm.v1.core.sched.scheduler import Scheduler

    from vllm_patches.runtime import patcher as runtime

    scheduler = make_scheduler(8, 64)
    manager = scheduler.kv_cache_manager.coordinator.single_type_managers[0]
    new = list(range(max(1, running // BLOCK)))

    def stub(*args, **kwargs):  # what vLLM's schedule leaves behind: new ids recorded
        manager.new_block_ids.extend(new)

    def per_call(fn) -> float:
        best = []
        for _ in range(5):
            manager.new_block_ids = []
            start = CLOCK()
            for _ in range(calls):
                fn()
            best.append((CLOCK() - start) / calls / 1000)
        return min(best)

    bare = per_call(stub)
    assert [o.outcome for o in runtime.apply_patches([patch])] == [runtime.APPLIED]
    try:
        scheduler._vllm_patches_orig_schedule = stub  # the instance's own, found first
        wrapped = per_call(lambda: Scheduler.schedule(scheduler))
    finally:
        runtime.revert_patches([patch])
    return wrapped - bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--running", default="64,128,256")
    parser.add_argument("--steps", type=int, default=1000, help="steps per arm")
    args = parser.parse_args()

    kit.stand_in_for_missing()  # vllm.v1.request imports the structured-output backends
    import vllm

    from vllm_patches.core.catalog import load_patch

    patch = load_patch(PATCH)
    version = getattr(vllm, "__version__", "?")
    print(f"vLLM {version} ({Path(vllm.__file__).parent}), {os.cpu_count()} cores; "
          f"{args.steps} steps per arm, interleaved")
    print(f"{'running':>7} {'unpatched us':>13} {'patched us':>11} {'overhead us':>12} "
          f"{'overhead %':>11} {'added work us':>14}")
    for running in (int(x) for x in args.running.split(",")):
        m = measure(running, args.steps, patch)
        extra = added_work(running, patch)
        diff = m["patched"] - m["unpatched"]
        print(f"{running:7d} {m['unpatched']:13.1f} {m['patched']:11.1f} {diff:12.2f} "
              f"{100 * diff / m['unpatched']:10.2f}% {extra:14.3f}",
              flush=True)


if __name__ == "__main__":
    main()
