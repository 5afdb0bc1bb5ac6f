"""``vllm-patches export``: fixes as a git format-patch mbox, for git am or quilt."""

from __future__ import annotations

import sys

import click

from vllm_patches.cli import messages
from vllm_patches.cli.common import (EXIT_ATTENTION, catalog_option, friendly_errors,
                                     release_option, source_install, target_options,
                                     write_output)


@click.command()
@target_options
@release_option
@click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False, path_type=str),
              help="Write the mbox to FILE (default: standard output).")
@click.option("--author", metavar="'NAME <EMAIL>'",
              help="The From: of each message, which git am makes the commit's author "
                   "(default: vllm-patches <vllm-patches@noreply.invalid>).")
@click.option("--force", is_flag=True,
              help="Write the fix even where the fork changed the target code.")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@catalog_option
@friendly_errors
def export(target, vllm_version, release, output, author, force, ids) -> None:
    """Write fixes as a git format-patch mbox, for git am or quilt.

    The diff is computed now from the target tree's files (paths relative to
    the folder that holds vllm/), under the same message and trailers as a
    backport commit. This is the one mbox vllm-patches writes (diff --mail,
    its older spelling, goes in the next release). Exit 1 when a fix cannot be
    written into that tree.

    \b
    Example:
      vllm-patches export gemma4-mtp-stable-lm-head --target ~/src/vllm-fork -o 43909.mbox
      cd ~/src/vllm-fork && git am --keep-non-patch 43909.mbox   # keeps the [Backport] tag
      vllm-patches export gemma4-mtp-stable-lm-head --release 0.22.1 > 43909.mbox
    """
    from vllm_patches.core.catalog import select
    from vllm_patches.source.export import DEFAULT_AUTHOR, ExportError
    from vllm_patches.source.export import export as export_mbox
    from vllm_patches.core.sourcefile import diff_bytes

    install = source_install(target, vllm_version, release, missing=messages.export_no_vllm())
    try:
        text = export_mbox(select(ids), install, force=force,
                           author=DEFAULT_AUTHOR if author is None else author)
    except ExportError as exc:
        click.echo(f"vllm-patches: {exc}", err=True)
        sys.exit(EXIT_ATTENTION)
    if output is None:
        click.echo(diff_bytes(text), nl=False)
        return
    write_output(output, diff_bytes(text))
    click.echo(messages.export_written(output, len(ids)), err=True)
