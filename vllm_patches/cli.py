"""The ``vllm-patches`` command line.

Exit codes, for CI gates: 0 success; 1 the command ran and found something
that needs attention (``status --check``, a refused or failed patch); 2 bad
input or a tree that cannot be worked on, with one sentence on stderr.
Commands import torch and vLLM only where a patch must run.
"""

from __future__ import annotations

import functools
import json
import sys

import click

from . import messages
from ._version import __version__

EXIT_ATTENTION = 1
EXIT_BAD_INPUT = 2


class Failure(click.ClickException):
    """One clear sentence on stderr and exit code 2, never a traceback."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file=None) -> None:
        click.echo(f"vllm-patches: {self.message}", err=True)


def friendly_errors(func):
    """Turn the package's known errors into a Failure."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from .catalog import CatalogError
        from .detect import DetectError

        from .hookfile import HookError
        from .report import ReportError

        try:
            return func(*args, **kwargs)
        except (CatalogError, DetectError, HookError, ReportError) as exc:
            raise Failure(str(exc)) from None

    return wrapper


def target_options(func):
    """--target DIR and --vllm-version V, shared by every command that reads a tree."""
    func = click.option(
        "--vllm-version",
        metavar="VERSION",
        help="Treat the vLLM as this version (for builds whose version says nothing useful). "
        "Also VLLM_PATCHES_VLLM_VERSION.",
    )(func)
    return click.option(
        "--target",
        type=click.Path(file_okay=False, path_type=str),
        metavar="DIR",
        help="Folder that holds the vllm/ package (a fork checkout or a site-packages) "
        "instead of the installed vLLM.",
    )(func)


def emit_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vllm-patches")
def cli() -> None:
    """Upstream vLLM fixes for the vLLM you run.

    \b
    Example:
      vllm-patches status
      vllm-patches status --target ~/src/vllm-fork --json
      vllm-patches hook install
    """


@cli.command()
@target_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 when a patch is applicable but not applied, or blocked by a fork's change "
    "(with --report: when a process could not apply one).",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=True, path_type=str),
    metavar="FILE",
    help="Summarise, per process, the VLLM_PATCHES_REPORT file that vLLM's processes wrote.",
)
@click.argument("ids", nargs=-1, metavar="[ID]...")
@friendly_errors
def status(target, vllm_version, as_json, check, report_file, ids) -> None:
    """Show the vLLM found and the state of each catalogued patch.

    States: applicable, applied, fixed-upstream, not-applicable, target-modified.
    With --report FILE: what each vLLM process (API server, engine core,
    workers) recorded, to prove that every one of them runs the fix.

    \b
    Example:
      vllm-patches status
      vllm-patches status --target /srv/vllm-fork --json
      vllm-patches status --check    # exit 1 if a fix is still missing
      VLLM_PATCHES_REPORT=/tmp/patches.jsonl vllm serve ...
      vllm-patches status --report /tmp/patches.jsonl
    """
    if report_file is not None:
        if target is not None or vllm_version is not None:
            raise Failure(messages.report_with_target())
        _report_status(report_file, ids, as_json, check)
        return
    from .catalog import select
    from .detect import find_vllm
    from .state import APPLICABLE, TARGET_MODIFIED, patch_status

    install = find_vllm(target, vllm_version)
    statuses = [patch_status(p, install) for p in select(ids)]
    if as_json:
        emit_json({
            "vllm": install.to_dict() if install else None,
            "patches": [s.to_dict() for s in statuses],
        })
    else:
        _print_status(install, statuses)
    if check and any(s.state in (APPLICABLE, TARGET_MODIFIED) for s in statuses):
        sys.exit(EXIT_ATTENTION)


def _print_status(install, statuses) -> None:
    if install is None:
        click.echo(messages.status_no_vllm())
    else:
        version = install.version or "version unknown (use --vllm-version)"
        extra = ", editable" if install.editable else ""
        click.echo(f"vLLM {version} at {install.location} ({install.version_from}{extra})")
    click.echo("")
    rows = [("PATCH", "STATE", "AFFECTED", "UPSTREAM")] + [
        (s.patch.id, s.state + (f" ({s.mode})" if s.mode else ""), s.patch.affected_text,
         s.patch.upstream_pr)
        for s in statuses
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
    for s in statuses:
        click.echo(f"\n{s.patch.id}: {s.reason}\n  next: {s.next_step}")


def _report_status(path: str, ids, as_json: bool, check: bool) -> None:
    from .report import outcome_counts, outcome_label, read, summarize

    entries, unreadable = read(path)
    records = summarize(entries, ids)
    if as_json:
        emit_json({"report": path, "processes": [r.to_dict() for r in records],
                   "unreadable_lines": unreadable})
    elif not records:
        click.echo(messages.report_empty(path))
    else:
        click.echo(messages.report_heading(path, len(records), unreadable))
        click.echo("")
        patch_ids = sorted({p for r in records for p in r.patches})
        rows = [("PID", "PARENT", "VLLM", "VIA", "PROCESS", *patch_ids)] + [
            (str(r.pid), str(r.ppid), r.vllm, r.via, _shorten(r.process, 40),
             *(outcome_label(r.patches[p]) if p in r.patches else "-" for p in patch_ids))
            for r in records
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        click.echo("")
        for patch_id, counts in sorted(outcome_counts(records).items()):
            click.echo(messages.report_patch_line(patch_id, counts, len(records)))
    if check and any(r.needs_attention for r in records):
        sys.exit(EXIT_ATTENTION)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def site_option(func):
    return click.option(
        "--site",
        type=click.Path(path_type=str),
        metavar="DIR",
        help="The site-packages folder to use (default: this Python's).",
    )(func)


@cli.group()
def hook() -> None:
    """The opt-in .pth hook: patch vLLM in Python processes that vLLM does not start.

    vLLM's own processes are patched by the vllm.general_plugins entry point
    without this. The hook is one line in a .pth file of a site-packages
    folder; it costs well under 5 ms at interpreter start-up.

    \b
    Example:
      vllm-patches hook install
      vllm-patches hook status --json
      vllm-patches hook uninstall
    """


@hook.command("install")
@site_option
@friendly_errors
def hook_install(site) -> None:
    """Write the .pth hook into a site-packages folder.

    \b
    Example:
      vllm-patches hook install
      vllm-patches hook install --site /opt/venv/lib/python3.11/site-packages
    """
    from .hookfile import install

    state, changed = install(site)
    click.echo(messages.hook_installed(state.path) if changed
               else messages.hook_already_installed(state.path))
    if not state.read_at_startup:
        click.echo(messages.hook_not_read_at_startup(state.site))


@hook.command("uninstall")
@site_option
@friendly_errors
def hook_uninstall(site) -> None:
    """Remove the .pth hook from a site-packages folder.

    \b
    Example:
      vllm-patches hook uninstall
      vllm-patches hook uninstall --site /opt/venv/lib/python3.11/site-packages
    """
    from .hookfile import uninstall

    state, changed = uninstall(site)
    click.echo(messages.hook_removed(state.path) if changed
               else messages.hook_not_installed(state.site))


@hook.command("status")
@site_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@friendly_errors
def hook_status(site, as_json) -> None:
    """Say whether the .pth hook is installed, and whether it is active here.

    \b
    Example:
      vllm-patches hook status
      vllm-patches hook status --site /opt/venv/lib/python3.11/site-packages --json
    """
    from .hookfile import armed_here, status as hook_file_status

    state = hook_file_status(site)
    armed = armed_here()
    if as_json:
        emit_json({**state.to_dict(), "armed_by": list(armed)})
        return
    click.echo(messages.hook_status_installed(state.path, state.current) if state.installed
               else messages.hook_status_missing(state.site))
    click.echo(messages.hook_status_startup(state.read_at_startup))
    click.echo(messages.hook_status_active(armed))


def main() -> None:
    cli(prog_name="vllm-patches")


if __name__ == "__main__":
    main()
