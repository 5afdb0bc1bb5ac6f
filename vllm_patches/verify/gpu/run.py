"""``vllm-patches verify``: on this machine's GPUs, show the bug, then show the fix.

Two arms run the same scenarios with vLLM's own code (see ``verify_arm``):
``patched`` applies the catalogue the production way, ``control`` runs the
original code. Each (arm, scenario) pair is a process of its own, all at once,
so that an illegal memory access in one cannot take the others down. The
verdict is PASS when every patched pair gives exactly eager's token ids at
every size; the control says whether the bug showed here (a crash or a
mismatch), which is what makes a PASS mean something.

Exit codes: 0 PASS, 1 FAIL, 2 cannot run (no CUDA GPU, no torch, no vLLM, a
vLLM without Gemma 4 MTP, or a patched arm that could not start).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from vllm_patches.core.catalog_files import PACKAGE_PARENT
from vllm_patches.verify import messages
from vllm_patches.verify.jobs import Finished, Job, run_all
from vllm_patches.verify.gpu.arm import (
    CAPTURE,
    CAPTURED_SIZES,
    CONTROL,
    DEFAULT_SIZES,
    EMULATED,
    ERROR,
    GEMMA4_ASSISTANT,
    MTP_MODULE,
    OK,
    PATCHED,
    PROPOSER_MODULE,
    RANKS,
    RELOAD,
    SETUP_ERROR,
    ArmConfig,
)

# Statuses the orchestrator gives a pair (besides the arm's own ok, error, setup-error).
CRASHED, TIMEOUT, UNAVAILABLE, SKIPPED = "crashed", "timeout", "unavailable", "skipped"
# What a pair's result shows.
MATCH, MISMATCH, CRASH, CANNOT, NOT_RUN = "match", "mismatch", "crash", "cannot-run", "not-run"
PASS, FAIL, CANNOT_RUN = "PASS", "FAIL", "CANNOT-RUN"
EXIT_CODES = {PASS: 0, FAIL: 1, CANNOT_RUN: 2}
KV_SHARE = 0.5  # of the free GPU memory, split between the arm processes that run at once


class CannotRun(Exception):
    """verify cannot run here; the message is one sentence."""


@dataclass(frozen=True)
class Options:
    tp: int = 2
    emulate_tp: bool = False
    scenarios: tuple[str, ...] = (CAPTURE, RELOAD)
    control: bool = True
    sizes: tuple[int, ...] = DEFAULT_SIZES
    trials: int = 5
    vocab: int = GEMMA4_ASSISTANT["vocab"]
    hidden: int = GEMMA4_ASSISTANT["hidden"]
    target: str | None = None
    vllm_version: str | None = None
    device: str = "cuda"  # "cpu": emulated CUDA graphs, for tests only
    timeout: float = 300.0


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> ``(1, 2, 4)``; ValueError with the sentence to show otherwise."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(s < 1 for s in sizes):
        raise ValueError(messages.verify_bad_sizes(text))
    return tuple(dict.fromkeys(sizes))


def check_vocab(vocab: int, centroids: int = GEMMA4_ASSISTANT["centroids"]) -> None:
    if vocab < centroids or vocab % centroids:
        raise ValueError(messages.verify_bad_vocab(vocab, centroids))


# Before anything runs ------------------------------------------------------------
@dataclass(frozen=True)
class Machine:
    torch_version: str
    gpus: int


def find_target(options: Options):
    """The vLLM to verify, which must have Gemma 4 MTP's centroid graphs."""
    from vllm_patches.core.detect import find_vllm

    install = find_vllm(options.target, options.vllm_version)
    if install is None:
        raise CannotRun(messages.verify_no_vllm())
    if install.read_module(MTP_MODULE) is None:
        raise CannotRun(messages.verify_no_mtp(install.version, MTP_MODULE))
    proposer = install.read_module(PROPOSER_MODULE) or ""
    if "def _setup_centroids_cuda_graphs(" not in proposer:
        raise CannotRun(messages.verify_no_centroid_graphs(install.version))
    return install


def probe_torch(device: str) -> Machine:
    """torch's version and the number of CUDA GPUs, without making a CUDA context here."""
    try:
        import torch
    except Exception as exc:  # ImportError, or a broken install's own error
        raise CannotRun(messages.verify_no_torch(exc)) from None
    if device == "cpu":
        return Machine(torch.__version__, 0)
    if not torch.cuda.is_available():
        raise CannotRun(messages.verify_no_cuda(torch.__version__))
    return Machine(torch.__version__, torch.cuda.device_count())


def choose_mode(options: Options, machine: Machine) -> tuple[str, str]:
    """(mode, description): real ranks when there are GPUs enough, else emulated TP."""
    if options.device == "cpu":
        return EMULATED, messages.mode_cpu(options.tp)
    if options.tp == 1:
        return EMULATED, messages.mode_single()
    if options.emulate_tp:
        return EMULATED, messages.mode_emulated(options.tp, messages.mode_emulated_asked())
    if machine.gpus < options.tp:
        return EMULATED, messages.mode_emulated(
            options.tp, messages.mode_emulated_few_gpus(machine.gpus, options.tp))
    return RANKS, messages.mode_ranks(options.tp, "nccl")


def source_patched(install) -> bool:
    """True when a catalogued fix is written into this tree's files (source mode)."""
    from vllm_patches.core.catalog import load_catalog
    from vllm_patches.core.state import PATCHED as SHAPE_PATCHED
    from vllm_patches.core.state import classify_install

    return any(classify_install(p, install).kind == SHAPE_PATCHED for p in load_catalog())


# Running the arms --------------------------------------------------------------------
def plan(options: Options, install, mode: str) -> tuple[list[Job], list[dict]]:
    """The arm processes to start, and the results of pairs that will not run."""
    arms = [PATCHED]
    fixed: list[dict] = []
    if not options.control:
        fixed += [_not_run(CONTROL, s, SKIPPED, messages.control_left_out())
                  for s in options.scenarios]
    elif source_patched(install):
        fixed += [_not_run(CONTROL, s, UNAVAILABLE, messages.control_in_source(install.location))
                  for s in options.scenarios]
    else:
        arms.append(CONTROL)
    pairs = [(arm, scenario) for arm in arms for scenario in options.scenarios]
    jobs = []
    for arm, scenario in pairs:
        config = ArmConfig(
            arm=arm, scenario=scenario, tp=options.tp, mode=mode, sizes=options.sizes,
            trials=options.trials, vocab=options.vocab, hidden=options.hidden,
            device=options.device, backend="nccl" if options.device == "cuda" else "gloo",
            kv_fraction=round(KV_SHARE / len(pairs), 4),
        )
        argv = [sys.executable, "-m", "vllm_patches.verify.gpu.arm", *config.argv()]
        jobs.append(Job(arm, scenario, argv, arm_env(arm, options, install),
                        preload=options.device == "cpu"))  # CUDA arms: a fresh interpreter
    return jobs, fixed


def _not_run(arm: str, scenario: str, status: str, reason: str) -> dict:
    return {"arm": arm, "scenario": scenario, "status": status, "error": reason,
            "where": None, "sizes": [], "seconds": 0.0}


def arm_env(arm: str, options: Options, install) -> dict[str, str]:
    """The arm's environment: the vLLM tree under test and this vllm_patches on the path."""
    env = dict(os.environ)
    paths = [str(install.location)] if options.target else []
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    paths.append(PACKAGE_PARENT)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    if options.vllm_version:
        env["VLLM_PATCHES_VLLM_VERSION"] = options.vllm_version
    if arm == CONTROL:
        env["VLLM_PATCHES"] = "none"  # no auto-patching hook may touch the control
    return env


def run_jobs(jobs: list[Job], timeout: float, on_done=None) -> list[dict]:
    """Run every arm at once, each in a process (and process group) of its own; each one's
    result line (``result_of``), in the order of ``jobs``."""
    results = []

    def done(finished: Finished) -> None:
        if on_done is not None:
            on_done(_result(finished, timeout))

    for finished in run_all(jobs, timeout, on_done=done):
        results.append(_result(finished, timeout))
    return results


def _result(finished: Finished, timeout: float) -> dict:
    result = result_of(finished.job, finished.returncode, finished.stdout, finished.stderr,
                       finished.timed_out, timeout)
    result["seconds"] = finished.seconds
    return result


def result_of(job: Job, returncode: int, stdout: str, stderr: str, timed_out: bool,
              timeout: float) -> dict:
    """The arm's own result line, or what its process's end says when there is none."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("arm") == job.arm:
            return data
    if timed_out:
        return _not_run(job.arm, job.scenario, TIMEOUT, messages.arm_timed_out(timeout))
    last = next((ln.strip() for ln in reversed(stderr.splitlines()) if ln.strip()), "")
    return _not_run(job.arm, job.scenario, CRASHED, messages.arm_crashed(returncode, last))


# Judging ---------------------------------------------------------------------------
def outcome_of(result: dict) -> str:
    status = result.get("status")
    if status in (UNAVAILABLE, SKIPPED):
        return NOT_RUN
    if status == SETUP_ERROR:
        return CANNOT
    if status in (ERROR, CRASHED, TIMEOUT):
        return CRASH
    rows = result.get("sizes") or []
    if status == OK and rows and all(r["matched"] == r["total"] for r in rows):
        return MATCH
    return MISMATCH


def describe(result: dict, trials: int | None = None) -> tuple[str, str]:
    """(short outcome, detail) of one pair, for the progress line and the verdict."""
    outcome = outcome_of(result)
    if outcome == MATCH:
        return "matched", messages.progress_match(len(result["sizes"]), trials or 0)
    if outcome == MISMATCH:
        bad = [r["size"] for r in result.get("sizes") or [] if r["matched"] != r["total"]]
        return "mismatched", messages.progress_mismatch(bad)
    if outcome == CRASH:
        word = "timed out" if result.get("status") == TIMEOUT else "crashed"
        return word, messages.progress_error(result.get("where"), result.get("error"))
    if outcome == CANNOT:
        return "not started", str(result.get("error"))
    return result.get("status", "-"), str(result.get("error"))


def decide(results: list[dict], options: Options) -> tuple[str, list[str]]:
    """(verdict, sentences): PASS when every patched pair matched eager everywhere."""
    patched = [r for r in results if r["arm"] == PATCHED]
    cannot = [r for r in patched if outcome_of(r) == CANNOT]
    if cannot:
        first = cannot[0]
        return CANNOT_RUN, [messages.verify_arms_cannot_start(PATCHED, first["scenario"],
                                                               str(first["error"]))]
    failed = [f"{r['scenario']} ({describe(r)[1]})" for r in patched if outcome_of(r) != MATCH]
    if failed:
        sentences = [messages.verdict_fail(failed)]
        verdict = FAIL
    else:
        sentences = [messages.verdict_pass([r["scenario"] for r in patched])]
        verdict = PASS
    sentences.append(_control_sentence([r for r in results if r["arm"] == CONTROL]))
    return verdict, sentences


def _control_sentence(control: list[dict]) -> str:
    ran = [r for r in control if outcome_of(r) != NOT_RUN]
    if not ran:
        return messages.control_not_run(str(control[0]["error"]) if control else "-")
    shown = [(r["scenario"], short_outcome(r)) for r in ran if outcome_of(r) in (CRASH, MISMATCH)]
    hidden = [(r["scenario"], short_outcome(r)) for r in ran if outcome_of(r) not in (CRASH, MISMATCH)]
    if not shown:
        return messages.control_not_reproduced(hidden)
    if hidden:
        return messages.control_reproduced_partly(shown, hidden)
    return messages.control_reproduced(shown)


def short_outcome(result: dict) -> str:
    """A few words for the verdict: crashed at size 1, wrong token ids at sizes 2, 4, ..."""
    outcome = outcome_of(result)
    if outcome == CRASH:
        word = "timed out" if result.get("status") == TIMEOUT else "crashed"
        return f"{word} at {result['where']}" if result.get("where") else word
    if outcome == MISMATCH:
        return describe(result)[1]
    if outcome == MATCH:
        return "matched eager"
    return "could not start"


# The whole run -----------------------------------------------------------------------
def verify(options: Options, echo=print) -> dict:
    """Run the verification; the report (``report["exit_code"]`` is the exit code).

    Raises CannotRun (one sentence) when it cannot start here.
    """
    started = time.perf_counter()
    install = find_target(options)
    machine = probe_torch(options.device)
    mode, description = choose_mode(options, machine)
    jobs, fixed = plan(options, install, mode)
    echo(messages.verify_started(install.version, install.location, description, len(jobs)))

    def progress(result: dict) -> None:
        word, detail = describe(result, options.trials)
        echo(messages.arm_progress(result["arm"], result["scenario"], word, detail,
                                   result.get("seconds") or 0.0))

    results = run_jobs(jobs, options.timeout, progress) + fixed
    order = {(a, s): i for i, (a, s) in enumerate(
        (a, s) for a in (PATCHED, CONTROL) for s in options.scenarios)}
    results.sort(key=lambda r: order.get((r["arm"], r["scenario"]), 99))
    verdict, sentences = decide(results, options)
    patched = next((r for r in results if r["arm"] == PATCHED and r.get("applied")), {})
    return {
        "verdict": verdict,
        "exit_code": EXIT_CODES[verdict],
        "summary": sentences,
        "mode": {"kind": mode, "tp": options.tp, "description": description},
        "gpu": next((r["gpu"] for r in results if r.get("gpu")), None),
        "gpus_visible": machine.gpus,
        "vllm": {"version": str(install.version) if install.version else None,
                 "location": str(install.location)},
        "torch": machine.torch_version,
        "settings": {**asdict(options), "centroids": GEMMA4_ASSISTANT["centroids"],
                     "top_k": GEMMA4_ASSISTANT["top_k"], "dtype": "bfloat16"},
        "patches": patched.get("applied", []),
        "results": results,
        "wall_seconds": round(time.perf_counter() - started, 2),
    }


# Showing it --------------------------------------------------------------------------
def render(report: dict) -> list[str]:
    """The table (arm x scenario x size) and the facts under it."""
    sizes = list(report["settings"]["sizes"])
    widths = [max(5, len(str(s)) + 1) for s in sizes]
    head = f"{'ARM':<8} {'SCENARIO':<9}" + "".join(f"{s:>{w}}" for s, w in zip(sizes, widths))
    lines = [head]
    notes = []
    for result in report["results"]:
        label = f"{result['arm']:<8} {result['scenario']:<9}"
        rows = {r["size"]: r for r in result.get("sizes") or []}
        if not rows:
            lines.append(label + "  " + " ".join(describe(result)).strip())
            continue
        lines.append(label + "".join(f"{_cell(rows.get(s)):>{w}}" for s, w in zip(sizes, widths)))
        if outcome_of(result) == CRASH:
            notes.append(f"  {result['arm']} {result['scenario']}: "
                         + messages.progress_error(result.get("where"), result.get("error")))
    lines += notes
    captured = [s for s in sizes if s in CAPTURED_SIZES]
    eager = [s for s in sizes if s > max(CAPTURED_SIZES)]
    padded = [(s, min(c for c in CAPTURED_SIZES if c >= s)) for s in sizes
              if s not in CAPTURED_SIZES and s <= max(CAPTURED_SIZES)]
    settings = report["settings"]
    lines += [
        "",
        f"Cells:   share of token ids identical to eager over {settings['trials']} trial(s); "
        "ERR: the run stopped there; -: not reached.",
        f"Paths:   {messages.size_paths(captured, eager, padded)}",
        f"Model:   vocab {settings['vocab']}, hidden {settings['hidden']}, "
        f"{settings['centroids']} centroids, top-k {settings['top_k']}, {settings['dtype']}",
        f"Mode:    {report['mode']['description']}",
        f"GPU:     {report['gpu'] or 'none'} ({report['gpus_visible']} visible)",
        f"vLLM:    {report['vllm']['version']} at {report['vllm']['location']}",
        f"torch:   {report['torch']}",
        f"Patched: {messages.patched_with(report['patches'])}",
        f"Wall:    {report['wall_seconds']:.1f} s",
        "",
        *report["summary"],
    ]
    return lines


def _cell(row: dict | None) -> str:
    if row is None:
        return "-"
    if row.get("error"):
        return "ERR"
    if not row["total"]:
        return "-"
    if row["matched"] == row["total"]:
        return "100%"
    return f"{math.floor(100 * row['matched'] / row['total'])}%"


def write_json(report: dict, path: str) -> None:
    Path(path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
