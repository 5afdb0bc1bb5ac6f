"""Captured CUDA graphs against eager execution: what a GPU check compares, and its words.

A GPU check captures graphs with vLLM's own code, does what the engine does next
(``after_capture``: free, empty the allocator cache, allocate a KV-cache stand-in full
of NaN, so that a graph reading freed memory shows), then ``compare``s, size by size and
trial by trial, what replay gives with what eager execution gives. Before each replay
the check fills the graph's static outputs with ``SENTINEL``, so a graph that did not
run shows as a mismatch. ``compare`` stops at the first error and says where.

A case's result is ``{"status", "error", "where", "sizes": [row, ...], "trials"}``;
``outcome_of`` says what it shows (matched, mismatched, crashed, could not start) and
``arm_verdict`` makes one check line (``bug``, ``detail``) of an arm's cases.
"""

from __future__ import annotations

import gc
from typing import Callable

# A case's status: the case's own (ok, error, setup-error), or its process's end.
OK, ERROR, SETUP_ERROR = "ok", "error", "setup-error"
CRASHED, TIMEOUT = "crashed", "timeout"
# What a case's result shows.
MATCH, MISMATCH, CRASH, CANNOT = "match", "mismatch", "crash", "cannot-run"

SENTINEL = -1  # never a token id, never an index


class SetupError(Exception):
    """The case could not get as far as running (an import failed, the control is patched)."""


def error_text(exc: BaseException) -> str:
    """The first line of an exception, as a person would read it in a table."""
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else ""
    name = type(exc).__name__
    if not text:
        return name
    if name in ("RuntimeError", "AcceleratorError") or text.startswith(name):
        return text
    return f"{name}: {text}"


def graph_sizes_first(sizes, captured) -> list[int]:
    """Sizes that replay a graph, smallest first, then the eager ones: an eager call may
    recompute what a stale graph reads, which must not come before the replays it hides."""
    top = max(captured)
    return sorted(s for s in set(sizes) if s <= top) + sorted(s for s in set(sizes) if s > top)


def after_capture(device, kv_fraction: float):
    """What the engine does after loading a model: free, empty the cache, then allocate the
    KV cache (here filled with NaN, so a stale read shows). Keep what it returns alive."""
    import torch

    gc.collect()
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    free, _total = torch.cuda.mem_get_info(device)
    kv_cache = torch.empty(int(free * kv_fraction), dtype=torch.uint8, device=device)
    kv_cache.fill_(0xFF)  # all ones: NaN in every floating-point type
    torch.cuda.synchronize(device)
    return kv_cache


def compare(sizes, trials: int, path_for: Callable[[int], str],
            trial: Callable[[int, int], tuple], rows: list[dict]) -> None:
    """For each size (in order) and trial, ``trial(size, number)`` gives (replayed, eager);
    a row per size goes into ``rows`` (matching elements, elements, the path that served
    it). An error is written into its row and raised again."""
    for size in sizes:
        row = {"size": size, "path": path_for(size), "matched": 0, "total": 0, "error": None}
        rows.append(row)
        try:
            for number in range(trials):
                got, want = trial(size, number)
                row["matched"] += int((got == want).sum().item())
                row["total"] += int(got.numel())
        except Exception as exc:
            row["error"] = error_text(exc)
            raise


def outcome_of(result: dict) -> str:
    status = result.get("status")
    if status == SETUP_ERROR:
        return CANNOT
    if status in (ERROR, CRASHED, TIMEOUT):
        return CRASH
    rows = result.get("sizes") or []
    if status == OK and rows and all(r["matched"] == r["total"] for r in rows):
        return MATCH
    return MISMATCH


def describe(result: dict) -> str:
    """A few words on one case: crashed at size 1: ..., token ids differ at sizes ..."""
    outcome = outcome_of(result)
    rows = result.get("sizes") or []
    if outcome == MATCH:
        return f"identical to eager at all {len(rows)} sizes, {result.get('trials', '?')} trial(s) each"
    if outcome == MISMATCH:
        bad = [r for r in rows if r["matched"] != r["total"]]
        share = sum(r["matched"] for r in bad) / max(1, sum(r["total"] for r in bad))
        return (f"differs from eager at size(s) {', '.join(str(r['size']) for r in bad)} "
                f"({share:.0%} identical there)")
    word = "timed out" if result.get("status") == TIMEOUT else "crashed"
    if outcome == CANNOT:
        word = "could not start"
    where = f" at {result['where']}" if result.get("where") else ""
    return f"{word}{where}: {result.get('error')}"


def arm_verdict(results: list[dict]) -> dict:
    """One arm's check line from its cases (each ``{"case", ...}``): the bug shows where a
    case crashed or differs from eager. A case that could not start makes the arm an error
    (raised), never a verdict."""
    cannot = [r for r in results if outcome_of(r) == CANNOT]
    if cannot:
        raise SetupError(f"{cannot[0]['case']}: {cannot[0].get('error')}")
    shown = [r for r in results if outcome_of(r) in (CRASH, MISMATCH)]
    detail = "; ".join(f"{r['case']}: {describe(r)}" for r in (shown or results))
    return {"bug": bool(shown), "detail": detail, "data": {"cases": results}}
