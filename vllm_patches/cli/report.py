"""The report reader: what each vLLM process recorded in a VLLM_PATCHES_REPORT file."""

from __future__ import annotations

import sys

import click

from vllm_patches.cli import messages
from vllm_patches.cli.common import (
    EXIT_ATTENTION,
    Failure,
    catalog_option,
    emit_json,
    friendly_errors,
    print_table,
)
from vllm_patches.cli.metrics import metrics_option, show_metrics


@click.command("report")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=True, path_type=str),
                required=False)
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--run", "run_id", metavar="RUN",
              help="Only the lines of this run (the VLLM_PATCHES_RUN of the vLLM processes; the "
              "first process that arms makes one when it is unset). --check needs it, so that "
              "a run's evidence never passes for another's.")
@click.option("--check", is_flag=True,
              help="Exit 0 only when the lines of that run prove every patch asked about (all "
              "without IDs) in place or not needed in each process that imported its target; "
              "exit 1 when a process could not apply one, and when there is no evidence (no "
              "line of that run, an unreadable line, no line for a patch ID given, or a report "
              "that is a symlink, too large, or a file another user could have written), with "
              "the reason on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@metrics_option
@catalog_option
@friendly_errors
def report(path, ids, run_id, check, as_json, metrics_url) -> None:
    """Summarise, per process, the VLLM_PATCHES_REPORT file that vLLM's processes wrote.

    Each vLLM process (API server, engine core, workers) that the plugin or
    the .pth hook armed writes one line: what it applied, at run time, in
    that process. This reads them, to prove that every one of them runs the
    fix, and lists the runs the file holds.

    \b
    Example:
      export VLLM_PATCHES_RUN=deploy-$(date +%s) VLLM_PATCHES_REPORT=~/run/patches.jsonl
      vllm serve ...
      vllm-patches report ~/run/patches.jsonl
      vllm-patches report ~/run/patches.jsonl --check --run "$VLLM_PATCHES_RUN"
      vllm-patches report ~/run/patches.jsonl --run "$VLLM_PATCHES_RUN" --json
      vllm-patches report --metrics http://127.0.0.1:8000/metrics --check
    """
    if metrics_url is not None:
        if run_id is not None:
            raise Failure(messages.metrics_with_other_source())
        # No FILE with --metrics: the first word in its place is the first patch ID.
        show_metrics(metrics_url, (path, *ids) if path else ids, as_json, check)
        return
    if path is None:
        raise Failure(messages.report_needs_file())
    read_report(path, ids, as_json, check, run_id)


def read_report(path: str, ids, as_json: bool, check: bool, run_id: str | None) -> None:
    from vllm_patches.core.catalog import get_patch
    from vllm_patches.runtime import report

    run_id = _asked_run(path, run_id, check)
    for patch_id in ids:
        get_patch(patch_id)  # an unknown id is bad input, as for status
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
        print_table([(*run(None), "PID", "PARENT", "VLLM", "VIA", "PROCESS", *patch_ids)] + [
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
        print_table([(*run(None), "PID", "PARENT", "VIA", "ARMED", "PROCESS")] + [
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
    print_table([("RUN", "FIRST LINE", "LAST LINE", "PROCESSES")] + [
        (r.id or messages.report_no_run(), r.first_time or "-", r.last_time or "-",
         str(r.processes))
        for r in held
    ])


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
