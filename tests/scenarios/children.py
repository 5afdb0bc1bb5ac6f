"""Child processes started the ways vLLM starts its workers."""

import multiprocessing


def run_in_child(method: str, target) -> dict:
    """Run ``target(queue)`` in a child started with ``method`` (``fork`` or ``spawn``);
    the dict it put on the queue, plus the child's exit code."""
    ctx = multiprocessing.get_context(method)
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(queue,))
    proc.start()
    result = queue.get(timeout=600)
    proc.join(60)
    return {**result, "exitcode": proc.exitcode}
