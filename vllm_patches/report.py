"""Proof that every process was patched: a JSON-lines report, one line per process and patch.

With ``VLLM_PATCHES_REPORT=FILE`` in the environment, each process in which the
plugin or the ``.pth`` hook applies or skips a patch appends one line per
patch: time, pid, parent pid, process title, patch id, outcome (runtime's, or
``inherited`` in a child forked after its parent was patched), mode, vLLM
version, and who armed the hook. The lines of one process go out in a single
``write`` on a file opened with ``O_APPEND`` under an exclusive ``flock``, so
that the API server, the engine core and every worker can share one file.
``read`` and ``summarize`` turn the file back into one record per process,
for ``vllm-patches status --report FILE``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import messages
from .errors import VllmPatchesError

REPORT_ENV = "VLLM_PATCHES_REPORT"
INHERITED = "inherited"  # a forked child runs the patch its parent applied
NEEDS_ATTENTION = ("refused", "failed")  # runtime's outcomes for a patch that did not go in

logger = logging.getLogger("vllm_patches")


class ReportError(VllmPatchesError):
    """The report file cannot be read."""


def record(outcomes, vllm_version: str, armed_by=()) -> None:
    """Append one line per outcome to ``$VLLM_PATCHES_REPORT``; never raises."""
    path = os.environ.get(REPORT_ENV, "").strip()
    if not path or not outcomes:
        return
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    common = {"pid": os.getpid(), "ppid": os.getppid(), "process": process_title(),
              "vllm": vllm_version, "via": ",".join(armed_by)}
    lines = "".join(
        json.dumps({"time": now, **common, "patch": o.id, "outcome": o.outcome, "mode": o.mode,
                    "message": o.message}) + "\n"
        for o in outcomes
    )
    try:
        append(path, lines.encode("utf-8"))
    except OSError as exc:
        logger.warning("%s", messages.report_write_failed(path, exc))


def append(path: str, data: bytes) -> None:
    """Append ``data`` to ``path`` in one go, safe against other processes doing the same."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX; O_APPEND alone
            fcntl = None
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)  # also releases the lock


def process_title() -> str:
    """The title vLLM gave this process (``VLLM::EngineCore``...), else its command line."""
    title = ""
    setproctitle = sys.modules.get("setproctitle")
    if setproctitle is not None:
        try:
            title = str(setproctitle.getproctitle())
        except Exception:
            title = ""
    if not title:
        try:
            with open("/proc/self/cmdline", "rb") as fh:
                title = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            title = " ".join([sys.executable, *sys.argv])
    return " ".join(title.split())


@dataclass
class ProcessRecord:
    """What one process recorded: its identity and the last outcome of each patch."""

    pid: int
    ppid: int
    process: str
    vllm: str
    via: str
    first_time: str
    patches: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def needs_attention(self) -> bool:
        return any(p["outcome"] in NEEDS_ATTENTION for p in self.patches.values())

    def to_dict(self) -> dict[str, object]:
        return {"pid": self.pid, "ppid": self.ppid, "process": self.process,
                "vllm": self.vllm, "via": self.via, "first_time": self.first_time,
                "patches": self.patches}


def read(path: str) -> tuple[list[dict], int]:
    """The entries of a report file, and how many lines could not be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            raw_lines = fh.read().splitlines()
    except FileNotFoundError:
        raise ReportError(messages.report_missing(path)) from None
    except OSError as exc:
        raise ReportError(messages.report_unreadable(path, exc)) from None
    entries, bad = [], 0
    for line in raw_lines:
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(entry, dict) and {"pid", "patch", "outcome"} <= entry.keys():
            entries.append(entry)
        else:
            bad += 1
    return entries, bad


def summarize(entries: list[dict], ids=()) -> list[ProcessRecord]:
    """One record per process (pid and parent pid), in the order they first wrote."""
    processes: dict[tuple[object, object], ProcessRecord] = {}
    for entry in entries:
        if ids and entry["patch"] not in ids:
            continue
        key = (entry["pid"], entry.get("ppid"))
        rec = processes.get(key)
        if rec is None:
            rec = processes[key] = ProcessRecord(
                pid=entry["pid"], ppid=entry.get("ppid", 0), process=entry.get("process", ""),
                vllm=entry.get("vllm", ""), via=entry.get("via", ""),
                first_time=entry.get("time", ""))
        rec.process = entry.get("process", rec.process)
        rec.patches[entry["patch"]] = {"outcome": entry["outcome"], "mode": entry.get("mode", ""),
                                       "message": entry.get("message", "")}
    return sorted(processes.values(), key=lambda r: r.first_time)


def outcome_counts(records: list[ProcessRecord]) -> dict[str, dict[str, int]]:
    """For each patch: how many processes ended in each outcome."""
    counts: dict[str, dict[str, int]] = {}
    for rec in records:
        for patch_id, result in rec.patches.items():
            label = outcome_label(result)
            per = counts.setdefault(patch_id, {})
            per[label] = per.get(label, 0) + 1
    return counts


def outcome_label(result: dict[str, str]) -> str:
    if result["outcome"] == "applied" and result.get("mode"):
        return f"applied ({result['mode']})"
    return result["outcome"]
