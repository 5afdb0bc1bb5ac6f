"""Source mode: ``vllm-patches apply``, ``revert`` and ``diff`` on a tree's own files."""

from __future__ import annotations

import sys

import click

from vllm_patches.cli import messages
from vllm_patches.cli.common import (EXIT_ATTENTION, Failure, catalog_option, deprecated,
                                     emit_json, friendly_errors, release_option, source_install,
                                     target_options, write_output)


def _selected(ids):
    from vllm_patches.core.catalog import select

    return select(ids) if ids else None


def _report(report, as_json, *, quiet_stdout=False, empty="") -> None:
    """Results, one sentence each: refusals on stderr, the rest on stdout (or stderr)."""
    if as_json:
        emit_json(report.to_dict())
    else:
        install = report.install
        version = install.version or "version unknown"
        click.echo(f"vLLM {version} at {install.location}", err=quiet_stdout)
        if not report.results:
            click.echo(f"  {empty}", err=quiet_stdout)
        for result in report.results:
            if result.ok:
                click.echo(f"  {result.message}", err=quiet_stdout)
            else:
                click.echo(f"vllm-patches: {result.message}.", err=True)
    if not report.ok:
        sys.exit(EXIT_ATTENTION)


@click.command()
@target_options
@release_option
@click.option("--dry-run", is_flag=True, hidden=True,
              help="Deprecated: vllm-patches diff prints the same diff.")
@click.option("--force", is_flag=True,
              help="Write a fix over methods that a fork changed (review the result).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@catalog_option
@friendly_errors
def apply(target, vllm_version, release, dry_run, force, as_json, ids) -> None:
    """Write fixes into vLLM's own files (source mode).

    Without ID: every patch whose state is applicable. Without --target: the
    installed vLLM. All files of the patches change together or not at all;
    the record of what was written is kept in .vllm-patches/ beside vllm/.
    A second apply does nothing and says so. Exit 1 when a named patch is
    refused (a fork changed its code: review, then --force or backport).

    \b
    Example:
      vllm-patches apply
      vllm-patches apply gemma4-mtp-stable-lm-head --target ~/src/vllm-fork
      vllm-patches diff --target ~/src/vllm-fork    # what apply would write, first
    """
    from vllm_patches.source import plan as source

    if dry_run:
        deprecated("apply --dry-run", "vllm-patches diff (the same diff, --json too)")
    if release and not dry_run:
        raise Failure(messages.source_release_is_read_only())
    install = source_install(target, vllm_version, release)
    report = source.apply(install, _selected(ids), force=force, dry_run=dry_run)
    if dry_run and not as_json:
        from vllm_patches.core.sourcefile import diff_bytes

        click.echo(diff_bytes(report.diff), nl=False)
    _report(report, as_json, quiet_stdout=dry_run, empty=messages.source_nothing_selected())


@click.command()
@target_options
@click.option("--force", is_flag=True,
              help="Take the fix out of files that changed since it was applied, "
              "or drop a stale record.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@catalog_option
@friendly_errors
def revert(target, vllm_version, force, as_json, ids) -> None:
    """Give vLLM's files their original bytes back (undo apply).

    Without ID: every patch applied in source. Refuses a file that changed
    since it was patched (pip reinstall, an edit) unless --force.

    \b
    Example:
      vllm-patches revert
      vllm-patches revert gemma4-mtp-stable-lm-head --target ~/src/vllm-fork
    """
    from vllm_patches.source import plan as source
    install = source_install(target, vllm_version)
    report = source.revert(install, _selected(ids), force=force)
    _report(report, as_json, empty=messages.source_nothing_to_revert())


@click.command()
@target_options
@release_option
@click.option("--force", is_flag=True, help="Show the fix over methods that a fork changed.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              metavar="FILE", help="Write the diff to FILE instead of stdout.")
@click.option("--mail", is_flag=True, hidden=True,
              help="Deprecated: vllm-patches export writes the mbox for git am.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON for machines: the results and the diff.")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@catalog_option
@friendly_errors
def diff(target, vllm_version, release, force, output, mail, as_json, ids) -> None:
    """Print what apply would write, as a unified diff; write nothing to the tree.

    Paths are relative to the folder that holds vllm/ (a/ and b/ prefixes),
    so `git apply -p1` takes the diff there. The diff holds the file's own
    bytes, in the encoding it declares. For `git am`, with a commit message
    per fix: vllm-patches export.

    \b
    Example:
      vllm-patches diff --release 0.22.1
      vllm-patches diff --release 0.22.1 -o fix.patch
      cd ~/src/vllm-fork && vllm-patches diff --target . -o fix.patch && git apply fix.patch
    """
    from vllm_patches.source import plan as source
    from vllm_patches.core.sourcefile import diff_bytes

    if mail:
        deprecated("diff --mail", "vllm-patches export ID... (the mbox for git am)")
    install = source_install(target, vllm_version, release)
    report = source.diff(install, _selected(ids), force=force, mail=mail)
    if output:
        write_output(output, diff_bytes(report.diff))
    elif not as_json:
        click.echo(diff_bytes(report.diff), nl=False)
    _report(report, as_json, quiet_stdout=True, empty=messages.source_nothing_selected())
