"""The report reader: what each vLLM process recorded in a VLLM_PATCHES_REPORT file."""

from __future__ import annotations

import sys

import click

from vllm_patches.cli import messages
from vllm_patches.cli.common import EXIT_ATTENTION, Failure, emit_json


def report_status(path: str, ids, as_json: bool, check: bool, run_id: str | None) -> None:
    from vllm_patches.runtime import report
    from vllm_patches.core.catalog import get_patch

    run_id = _asked_run(path, run_id, check)
    for patch_id in ids:
        get_patch(patch_id)  # an unknown id is bad input, as for status without --report
    try:
        entries, unreadable = report.read(path)
    except report.NotEvidence as exc:
        click.echo(f"vllm-patches: {exc}", err=True)
        sys.exit(EXIT_ATTENTION)
    held = report.runs(entries)
    chosen = entries if run_id is None else report.of_run(entries, run_id)
    records = report.summarize(chosen, ids)
    patched = [r for r in records if r.target_imported]
    armed_only = [r for r in records if not r.target_imported]
    problem = report.check(path, records, len(chosen), unreadable, ids, run_id, held)
    if as_json:
        emit_json({"report": path, "run": run_id, "runs": [r.to_dict() for r in held],
                   "processes": [r.to_dict() for r in patched],
                   "armed_target_not_imported": [r.to_dict() for r in armed_only],
                   "unreadable_lines": unreadable,
                   "check": {"passed": problem is None, "problem": problem}})
    else:
        _print_report(path, patched, armed_only, unreadable, run_id)
        _print_runs(held)
    if check and problem is not None:
        click.echo(f"vllm-patches: {problem}", err=True)
        sys.exit(EXIT_ATTENTION)


def _asked_run(path: str, run_id: str | None, check: bool) -> str | None:
    """The run that --run names; bad input when it is empty, or missing for --check (a
    report can hold an earlier run's lines: only the run's id tells them apart)."""
    if run_id is not None and not run_id.strip():
        raise Failure(messages.report_empty_run())
    if check and run_id is None:
        raise Failure(messages.report_check_needs_run(path))
    return run_id.strip() if run_id is not None else None


def _print_report(path: str, patched, armed_only, unreadable: int, run_id=None) -> None:
    """The processes with patch outcomes, one row each, then those that only armed; a RUN
    column when they belong to more than one run."""
    from vllm_patches.runtime.report import outcome_counts, outcome_label

    run = _run_column({r.run for r in (*patched, *armed_only)})
    if not patched:
        click.echo(messages.report_empty(path, run_id))
        if unreadable:
            click.echo(f"({unreadable} unreadable line(s) ignored)")
    else:
        click.echo(messages.report_heading(path, len(patched), unreadable, run_id))
        click.echo("")
        patch_ids = sorted({p for r in patched for p in r.patches})
        _print_rows([(*run(None), "PID", "PARENT", "VLLM", "VIA", "PROCESS", *patch_ids)] + [
            (*run(r), str(r.pid), str(r.ppid), r.vllm, r.via, _shorten(r.process, 40),
             *(outcome_label(r.patches[p]) if p in r.patches else "-" for p in patch_ids))
            for r in patched
        ])
        click.echo("")
        for patch_id, counts in sorted(outcome_counts(patched).items()):
            click.echo(messages.report_patch_line(patch_id, counts, len(patched)))
    if armed_only:
        click.echo("")
        click.echo(f"{len(armed_only)} process(es) armed; target not imported "
                   "(the plugin loaded, no patched module was imported there):")
        click.echo("")
        _print_rows([(*run(None), "PID", "PARENT", "VIA", "ARMED", "PROCESS")] + [
            (*run(r), str(r.pid), str(r.ppid), r.via,
             r.armed if isinstance(r.armed, str) else ",".join(r.armed or ()),
             _shorten(r.process, 40))
            for r in armed_only
        ])


def _run_column(runs: set):
    """``cells(record)``: the RUN cell of a row (the heading for None), or no cell at all when
    every row is of one run."""
    def cells(rec) -> tuple[str, ...]:
        if len(runs) < 2:
            return ()
        return ("RUN",) if rec is None else (rec.run or "-",)

    return cells


def _print_runs(held) -> None:
    """The runs of the whole report, oldest first: what --run can ask about."""
    if not held:
        return
    click.echo("")
    click.echo(messages.report_runs_heading(len(held)))
    click.echo("")
    _print_rows([("RUN", "FIRST LINE", "LAST LINE", "PROCESSES")] + [
        (r.id or messages.report_no_run(), r.first_time or "-", r.last_time or "-",
         str(r.processes))
        for r in held
    ])


def _print_rows(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
