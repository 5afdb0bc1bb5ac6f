"""``vllm-patches status``: the vLLM found and the state of each catalogued patch."""

from __future__ import annotations

import sys
from dataclasses import replace

import click

from vllm_patches.cli import messages
from vllm_patches.cli.common import (EXIT_ATTENTION, Failure, catalog_option, emit_json,
                                     deprecated, friendly_errors, print_table,
                                     target_options)
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
@click.argument("ids", nargs=-1, metavar="[ID]...")
@catalog_option
@friendly_errors
def status(target, vllm_version, as_json, check, report_file, run_id, ids) -> None:
    """Show the vLLM found and the state of each catalogued patch.

    States: applicable, applied, fixed-upstream, not-applicable, target-modified.
    What each vLLM process recorded at run time is `vllm-patches report FILE`.

    \b
    Example:
      vllm-patches status
      vllm-patches status --target /srv/vllm-fork --json
      vllm-patches status --check    # exit 1 if a fix is still missing (neither in the
                                     # files nor applied by the plugin at start-up)
    """
    if report_file is not None:
        deprecated("status --report FILE", "vllm-patches report FILE")
        if target is not None or vllm_version is not None:
            raise Failure(messages.report_with_target())
        read_report(report_file, ids, as_json, check, run_id)
        return
    if run_id is not None:
        raise Failure(messages.run_without_report())
    from vllm_patches.core.catalog import select
    from vllm_patches.core.detect import find_vllm
    from vllm_patches.core.state import APPLICABLE, TARGET_MODIFIED, patch_status

    install = find_vllm(target, vllm_version)
    record, pending = _source_record(install)
    statuses = [patch_status(p, install, record=record) for p in select(ids)]
    # Auto-patching concerns the vLLM of this environment, not a --target tree.
    auto = None
    if target is None and install is not None:
        from vllm_patches.runtime.autopatch import describe

        auto = describe()
        if auto.selection_problem is not None:
            click.echo(f"vllm-patches: warning: {auto.selection_problem}.", err=True)
    covered = {s.patch.id for s in statuses
               if auto is not None and s.state == APPLICABLE and auto.covers(s.patch.id)}
    statuses = [replace(s, next_step=messages.next_apply_covered(s.patch.id)
                        if s.patch.id in covered else auto.next_step(s.patch.id))
                if auto is not None and s.state == APPLICABLE else s for s in statuses]
    conflicts = _conflicts(statuses)
    if as_json:
        emit_json({
            "vllm": install.to_dict() if install else None,
            "autopatch": auto.to_dict() if auto else None,
            "patches": [{**s.to_dict(), "autopatch": s.patch.id in covered} for s in statuses],
            "conflicts": [{"patches": [o.first.id, o.second.id], "functions": list(o.functions),
                           "composition": str(o.composition),
                           "says": f"{o.first.id} {o.describe(o.first)}"} for o in conflicts],
            "pending_write": pending,
        })
    else:
        _print_status(install, statuses, auto)
        for o in conflicts:
            click.echo("\n" + messages.status_conflict(o.first.id, o.describe(o.first)))
        if pending:
            click.echo("\n" + source_messages.source_pending(install.location))
    needs = [s for s in statuses if s.state == TARGET_MODIFIED
             or (s.state == APPLICABLE and s.patch.id not in covered)]
    if check and needs:
        sys.exit(EXIT_ATTENTION)


def _conflicts(statuses):
    """Pairs of the listed patches that must not both be in place, where both concern this
    vLLM (neither is fixed upstream or not applicable here)."""
    from vllm_patches.core.overlaps import overlaps
    from vllm_patches.core.state import FIXED_UPSTREAM, NOT_APPLICABLE

    live = [s.patch for s in statuses if s.state not in (FIXED_UPSTREAM, NOT_APPLICABLE)]
    return [o for o in overlaps(live) if o.conflicting]


def _source_record(install):
    """The tree's source-mode record (None, with a warning, when corrupt) and whether an
    interrupted write is pending there."""
    if install is None or not (install.location / ".vllm-patches").is_dir():
        return None, False  # never source-patched: no need to import the record's modules
    from vllm_patches.source.record import RecordError, load, state_dir
    from vllm_patches.source.transaction import pending

    try:
        record = load(install.location)
    except RecordError as exc:
        click.echo(f"vllm-patches: warning: {exc}", err=True)
        record = None
    return record, pending(state_dir(install.location))


def _print_status(install, statuses, auto=None) -> None:
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
