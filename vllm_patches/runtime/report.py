"""Proof that every process was patched: the ``VLLM_PATCHES_REPORT`` file, and its summary.

With ``VLLM_PATCHES_REPORT=FILE`` in the environment, each process that loads
the plugin or the ``.pth`` hook appends one *armed* line (which patches it
armed, and how), then, once a patched module is imported, one *patch* line
per patch: time, pid, parent pid, process title, patch id, outcome
(runtime's, or ``inherited`` in a child forked after its parent was patched),
mode, vLLM version, and who armed the hook. ``reportline`` writes them.

Every line carries the id of its run (``VLLM_PATCHES_RUN``, made by the first
process of a run that arms and inherited by every process it starts).

``read`` turns the file back into checked entries (a line with a field of the
wrong type counts as unreadable, like one that is not JSON), through
``core.files.read_untrusted`` as evidence: a symlink, a file past
``REPORT_LIMIT``, or one that another user owns or could have written
(``core.ownership``) is ``NotEvidence``; a FIFO, device, socket or folder is not a
report at all (``ReportError``). ``runs`` lists the runs a report holds,
``of_run`` keeps one run's lines (a line without a run, from before runs existed,
belongs to none), ``summarize`` makes one record per process, and ``check`` says
whether the lines prove that every patch asked about is in place, for
``vllm-patches report FILE --check --run ID``: no readable line, an
unreadable line, or no line for a patch asked about is no evidence, never a pass.
"""

from __future__ import annotations

import errno
import json
from dataclasses import dataclass, field, replace
from enum import Enum

from vllm_patches.runtime import messages
from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.words import Outcome
from vllm_patches.core.files import NotOurs, NotPlainFile, TooLarge, read_untrusted, untrusted_problem
from vllm_patches.runtime.reportline import (ALL, ARMED, PATCH, REPORT_ENV, RUN_ENV, append,
                                             patch_lines, process_title, report_path,
                                             write)

__all__ = ["REPORT_ENV", "RUN_ENV", "REPORT_LIMIT", "ReportError", "NotEvidence", "Proof",
           "ProcessRecord", "Run", "record", "append", "process_title", "read", "runs",
           "of_run", "summarize", "check", "proof_of"]

REPORT_LIMIT = 64 << 20  # bytes: a report of a thousand processes is far below; /dev/zero stops here



class Proof(Enum):
    """What one process's outcome for a patch proves."""

    IN_PLACE = "in place"  # the fix runs in that process
    NOT_NEEDED = "not needed"  # runtime found the code outside the fix's reach (skipped)
    NOT_IN_PLACE = "not in place"  # refused, failed, or an outcome this version does not know


_OUTCOME_PROOF = {
    Outcome.APPLIED: Proof.IN_PLACE,
    Outcome.ALREADY_APPLIED: Proof.IN_PLACE,
    Outcome.IN_SOURCE: Proof.IN_PLACE,
    Outcome.INHERITED: Proof.IN_PLACE,
    Outcome.SKIPPED: Proof.NOT_NEEDED,
}


def proof_of(outcome: str) -> Proof:
    """What a line's outcome proves; one this version does not know proves nothing
    (NOT_IN_PLACE). A report's outcome is read as text: an ``Outcome`` member hashes as
    its value, so the text finds it."""
    return _OUTCOME_PROOF.get(outcome, Proof.NOT_IN_PLACE)


class ReportError(VllmPatchesError):
    """The report file cannot be read: missing, unreadable, or not a file at all (bad input)."""


class NotEvidence(ReportError):
    """The report file is there but proves nothing: a symlink, too large, or a file that
    another user owns or could have written."""


def record(outcomes, vllm_version: str, armed_by=()) -> None:
    """Append one line per outcome to ``$VLLM_PATCHES_REPORT``; never raises. Without a
    report nothing is built (no run id is made either)."""
    if not (outcomes and report_path()):
        return
    try:
        data = patch_lines(outcomes, vllm_version, armed_by)
    except Exception:  # pragma: no cover - an outcome that is no text: no line, no crash
        return
    write(data)


# Reading ---------------------------------------------------------------------------
_OPTIONAL_TEXT = ("time", "run", "process", "vllm", "via", "mode", "message")


def read(path: str) -> tuple[list[dict], int]:
    """The checked entries of a report file, and how many lines could not be read."""
    text = _read_evidence(path).decode("utf-8", errors="replace")
    entries, bad = [], 0
    for raw in text.splitlines():
        if not raw.strip():
            continue
        entry = checked_entry(raw)
        if entry is None:
            bad += 1
        else:
            entries.append(entry)
    return entries, bad


def _read_evidence(path: str) -> bytes:
    """The report's bytes, read as evidence; ReportError or NotEvidence, in one sentence."""
    try:
        return read_untrusted(path, limit=REPORT_LIMIT, evidence=True)
    except FileNotFoundError:
        raise ReportError(messages.report_missing(path)) from None
    except (NotOurs, TooLarge) as exc:
        raise NotEvidence(messages.report_not_evidence(path, untrusted_problem(exc))) from None
    except NotPlainFile as exc:
        if exc.errno == errno.ELOOP:  # a link to a file: planted, or not ours to believe
            raise NotEvidence(messages.report_not_evidence(path, untrusted_problem(exc))) \
                from None
        raise ReportError(messages.report_not_a_file(path, untrusted_problem(exc))) from None
    except OSError as exc:
        raise ReportError(messages.report_unreadable(path, exc)) from None


def checked_entry(raw: str) -> dict | None:
    """One line as a dict whose fields have the types the writer gives them; None if not."""
    try:
        entry = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict) or not _is_pid(entry.get("pid"), minimum=1):
        return None
    if not _is_pid(entry.get("ppid", 0), minimum=0):
        return None
    if not all(isinstance(entry.get(key, ""), str) for key in _OPTIONAL_TEXT):
        return None
    event = entry.setdefault("event", PATCH)  # lines from before armed lines had no event
    if event == PATCH:
        ok = _is_name(entry.get("patch")) and _is_name(entry.get("outcome"))
    elif event == ARMED:
        ok = entry.get("outcome") == ARMED and _is_selection(entry.get("patches"))
    else:
        ok = False
    return entry if ok else None


def _is_pid(value: object, minimum: int) -> bool:
    return type(value) is int and value >= minimum


def _is_name(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_selection(value: object) -> bool:
    return value == ALL or (isinstance(value, list) and all(_is_name(v) for v in value))


@dataclass
class ProcessRecord:
    """What one process recorded: its identity, what it armed, the last outcome of each patch."""

    pid: int
    ppid: int
    process: str
    vllm: str
    via: str
    first_time: str
    armed: str | tuple[str, ...] | None = None  # ALL, the ids, or None without an armed line
    patches: dict[str, dict[str, str]] = field(default_factory=dict)
    run: str | None = None  # None: lines from before runs existed

    @property
    def target_imported(self) -> bool:
        """False for a process that armed the plugin but never imported a patched module."""
        return bool(self.patches)

    @property
    def needs_attention(self) -> bool:
        return any(proof_of(p["outcome"]) is Proof.NOT_IN_PLACE
                   for p in self.patches.values())

    def arms_any(self, ids) -> bool:
        return not ids or self.armed == ALL or bool(set(self.armed or ()) & set(ids))

    def to_dict(self) -> dict[str, object]:
        armed = list(self.armed) if isinstance(self.armed, tuple) else self.armed
        return {"run": self.run, "pid": self.pid, "ppid": self.ppid, "process": self.process,
                "vllm": self.vllm, "via": self.via, "first_time": self.first_time,
                "armed": armed, "patches": self.patches}


def summarize(entries: list[dict], ids=()) -> list[ProcessRecord]:
    """One record per process (pid and parent pid), in the order they first wrote.

    With ``ids``: only those patches, and only the processes that recorded one of
    them or armed one of them without importing a patched module.
    """
    processes: dict[tuple[str | None, int, int], ProcessRecord] = {}
    for entry in entries:
        key = (entry.get("run"), entry["pid"], entry.get("ppid", 0))
        rec = processes.get(key)
        if rec is None:
            rec = processes[key] = ProcessRecord(
                pid=entry["pid"], ppid=entry.get("ppid", 0), process=entry.get("process", ""),
                vllm=entry.get("vllm", ""), via=entry.get("via", ""),
                first_time=entry.get("time", ""), run=entry.get("run"))
        rec.process = entry.get("process") or rec.process
        rec.vllm = entry.get("vllm") or rec.vllm
        rec.via = entry.get("via") or rec.via
        if entry["event"] == ARMED:
            patches = entry["patches"]
            rec.armed = ALL if patches == ALL else tuple(patches)
        else:
            rec.patches[entry["patch"]] = {"outcome": entry["outcome"],
                                           "mode": entry.get("mode", ""),
                                           "message": entry.get("message", "")}
    records = sorted(processes.values(), key=lambda r: r.first_time)
    if ids:
        records = [_only(r, ids) for r in records]
        records = [r for r in records if r.patches or (r.armed is not None and r.arms_any(ids))]
    return records


def _only(rec: ProcessRecord, ids) -> ProcessRecord:
    """``rec`` with only the patches ``ids``; None-armed when it imported a target for others."""
    kept = {p: r for p, r in rec.patches.items() if p in ids}
    armed = rec.armed if kept or not rec.patches else None
    return replace(rec, armed=armed, patches=kept)


# Runs ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One run in a report: the processes that wrote under one ``VLLM_PATCHES_RUN``."""

    id: str | None  # None: the lines written before runs existed (no evidence for a run)
    first_time: str
    last_time: str
    processes: int
    lines: int

    def to_dict(self) -> dict[str, object]:
        return {"run": self.id, "first_time": self.first_time, "last_time": self.last_time,
                "processes": self.processes, "lines": self.lines}


def runs(entries: list[dict]) -> list[Run]:
    """The runs the entries hold, oldest first (by their first line's time)."""
    found: dict[str | None, list[dict]] = {}
    for entry in entries:
        found.setdefault(entry.get("run"), []).append(entry)
    listed = []
    for run_id, lines in found.items():
        times = sorted(e.get("time", "") for e in lines)
        listed.append(Run(run_id, times[0], times[-1],
                          len({(e["pid"], e.get("ppid", 0)) for e in lines}), len(lines)))
    return sorted(listed, key=lambda r: r.first_time)


def of_run(entries: list[dict], run_id: str) -> list[dict]:
    """The entries of run ``run_id`` alone (a line without a run belongs to none)."""
    return [e for e in entries if e.get("run") == run_id]


def check(path: str, records: list[ProcessRecord], readable: int, unreadable: int,
          ids=(), run: str | None = None, held: list[Run] = ()) -> str | None:
    """None when the report proves every asked patch (all, without ``ids``) in place or not
    needed in each process that recorded it; else why not, in one sentence.

    ``readable``/``unreadable``: how many lines (of run ``run``, when given) ``read`` could
    and could not read; ``held``: the runs of the whole file.
    """
    if not readable and run is not None and held:
        return messages.report_no_line_of_run(path, run, [r.id for r in held if r.id],
                                              any(r.id is None for r in held))
    if not readable:
        return _no_readable_line(path, unreadable)
    if unreadable:
        return (f"Report {path} has {unreadable} line(s) that cannot be read, so it cannot "
                "prove that every process runs the fix: no evidence (look at the file).")
    recorded = {p for r in records for p in r.patches}
    missing = [i for i in ids if i not in recorded]
    if missing:
        return (f"No process in report {path} recorded {', '.join(missing)}: no evidence that "
                "it runs (no process imported its target, or the plugin did not load there).")
    failing = _not_in_place(records)
    if failing:
        return f"Report {path} shows a patch not in place: " + "; ".join(
            f"{patch_id} {outcome} in {_pids(pids)}"
            for (patch_id, outcome), pids in failing.items()) + "."
    return None


def _not_in_place(records: list[ProcessRecord]) -> dict[tuple[str, str], list[int]]:
    """(patch, outcome) -> the pids whose outcome leaves the patch out."""
    failing: dict[tuple[str, str], list[int]] = {}
    for rec in records:
        for patch_id, result in rec.patches.items():
            if proof_of(result["outcome"]) is Proof.NOT_IN_PLACE:
                failing.setdefault((patch_id, result["outcome"]), []).append(rec.pid)
    return failing


def _pids(pids: list[int], shown: int = 5) -> str:
    text = ", ".join(map(str, pids[:shown])) + (", ..." if len(pids) > shown else "")
    return f"{len(pids)} process(es) (pid {text})"


def _no_readable_line(path: str, unreadable: int) -> str:
    what = f"{unreadable} unreadable line(s)" if unreadable else "nothing"
    return (f"Report {path} holds {what} and no readable line: no evidence that any vLLM "
            f"process loaded vllm-patches (set {REPORT_ENV}={path} for them).")


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
    if result["outcome"] == Outcome.APPLIED and result.get("mode"):
        return f"applied ({result['mode']})"
    return result["outcome"]
