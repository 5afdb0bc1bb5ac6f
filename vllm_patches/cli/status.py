"""``vllm-patches status``: the vLLM found and the state of each catalogued patch."""

from __future__ import annotations

import sys

import click

from vllm_patches.cli import messages
from vllm_patches.cli.common import (
    EXIT_ATTENTION,
    Failure,
    catalog_option,
    deprecated,
    emit_json,
    friendly_errors,
    print_table,
    target_options,
)
from vllm_patches.cli.metrics import metrics_option, show_metrics
from vllm_patches.cli.report import read_report
from vllm_patches.source import messages as source_messages


@click.command()
@target_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 when a patch is applicable but not applied, or blocked by a fork's change.",
)
# status --report FILE [--run ID] is `vllm-patches report FILE [--run ID]` (deprecated here).
@click.option("--report", "report_file", type=click.Path(dir_okay=True, path_type=str),
              hidden=True)
@click.option("--run", "run_id", hidden=True)
@click.option("--advisories", "advisories", is_flag=True,
              help="List the security advisories the catalogues know and where each stands "
              "for this vLLM: fixed-upstream, patched (in the files, or put in by the plugin "
              "at start-up), open, not-affected. Exit 1 while one is open.")
@metrics_option
@click.argument("ids", nargs=-1, metavar="[ID]...")
@catalog_option
@friendly_errors
def status(target, vllm_version, as_json, check, report_file, run_id, advisories,
           metrics_url, ids) -> None:
    """Show the vLLM found and the state of each catalogued patch.

    States: applicable, applied, fixed-upstream, not-applicable, target-modified.
    What each vLLM process recorded at run time is `vllm-patches report FILE`;
    what a running server's processes run, its /metrics (--metrics URL).

    \b
    Example:
      vllm-patches status
      vllm-patches status --target /srv/vllm-fork --json
      vllm-patches status --check    # exit 1 if a fix is still missing (neither in the
                                     # files nor applied by the plugin at start-up)
      vllm-patches status --metrics http://127.0.0.1:8000/metrics --check
      vllm-patches status --advisories    # exit 1 while an advisory is open here
    """
    if metrics_url is not None:
        if target is not None or vllm_version is not None or report_file or run_id:
            raise Failure(messages.metrics_with_other_source())
        show_metrics(metrics_url, ids, as_json, check)
        return
    if report_file is not None:
        deprecated("status --report FILE", "vllm-patches report FILE")
        if target is not None or vllm_version is not None:
            raise Failure(messages.report_with_target())
        read_report(report_file, ids, as_json, check, run_id)
        return
    if run_id is not None:
        raise Failure(messages.run_without_report())
    from vllm_patches.api import status as status_report

    report = status_report(ids, target=target, vllm_version=vllm_version)
    for warning in report.warnings:
        click.echo(f"vllm-patches: warning: {warning}", err=True)
    if advisories:
        _show_advisories(report, as_json)
        return
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_status(report)
    if check and report.needs_attention:
        sys.exit(EXIT_ATTENTION)


def _show_advisories(report, as_json: bool) -> None:
    """Each advisory and where it stands; exit 1 while one is open."""
    found = report.advisories
    if as_json:
        emit_json({"vllm": report.install.to_dict() if report.install else None,
                   "advisories": [a.to_dict() for a in found],
                   "open": [a.id for a in report.open_advisories]})
    else:
        version = (report.install.version or "version unknown") if report.install else None
        click.echo(messages.advisories_heading(version, len(found),
                                               len(report.open_advisories)))
        if found:
            print_table([("ADVISORY", "SEVERITY", "PATCH", "STANDING", "HOW"), *[
                (a.id, a.severity or "-", a.patch, str(a.standing), a.how) for a in found]])
    if report.open_advisories:
        sys.exit(EXIT_ATTENTION)


def _print_status(report) -> None:
    install, statuses, auto = report.install, report.patches, report.autopatch
    if install is None:
        click.echo(messages.status_no_vllm())
    else:
        version = install.version or "version unknown (use --vllm-version)"
        extra = ", editable" if install.editable else ""
        click.echo(f"vLLM {version} at {install.location} ({install.version_from}{extra})")
    if auto is not None:
        click.echo(auto.summary())
    click.echo("")
    from vllm_patches.core.catalog import builtin

    own = any(not builtin(s.patch) for s in statuses)  # user catalogues: say whose patch
    rows = [("PATCH", "STATE", "AFFECTED", "UPSTREAM") + (("CATALOG",) if own else ())] + [
        (s.patch.id, s.state + (f" ({s.mode})" if s.mode else ""), s.patch.affected_text,
         s.patch.upstream_pr)
        + (("built-in" if builtin(s.patch) else str(s.patch.folder.parent),) if own else ())
        for s in statuses
    ]
    print_table(rows)
    for s in statuses:
        click.echo(f"\n{s.patch.id}: {s.reason}\n  next: {s.next_step}")
    for o in report.conflicts:
        click.echo("\n" + messages.status_conflict(o.first.id, o.describe(o.first)))
    if report.pending_write:
        click.echo("\n" + source_messages.source_pending(install.location))
