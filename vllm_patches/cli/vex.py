"""``vllm-patches vex``: the CycloneDX VEX document of the vLLM here (``authoring.vex``)."""

from __future__ import annotations

import click

from vllm_patches.cli import messages
from vllm_patches.cli.common import (
    Failure,
    catalog_option,
    friendly_errors,
    target_options,
    write_output,
)


@click.command("vex")
@target_options
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the document to FILE instead of stdout.")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@catalog_option
@friendly_errors
def vex(target, vllm_version, output, ids) -> None:
    """Write a CycloneDX VEX document (JSON, spec 1.6) for the vLLM here.

    One component, pkg:pypi/vllm@VERSION, and each security advisory of the
    catalogues' patches that concerns it: resolved_with_pedigree where a patch
    closes it here (written into the files, or put in by the plugin at every
    start: only what `status --check` passes), with the patch in the
    component's pedigree (type backport, the diff of its fix, resolves naming
    the advisory); resolved where the release ships upstream's fix;
    exploitable where it is open. Needs cyclonedx-python-lib
    (pip install 'vllm-patches[vex]').

    \b
    Example:
      vllm-patches vex -o vllm.vex.json
      vllm-patches vex --target /srv/vllm-fork > vex.json
      vllm-patches status --advisories     # the same answer, as a table and a gate
    """
    from vllm_patches._version import __version__
    from vllm_patches.api import status as status_report
    from vllm_patches.authoring.vex import VexUnavailable, vex_json
    from vllm_patches.core.catalog import get_patch
    from vllm_patches.source.diffs import fix_diff

    report = status_report(ids, target=target, vllm_version=vllm_version)
    if report.install is None:
        raise Failure(messages.vex_no_vllm())
    root = report.install.location

    def diff_of(patch_id: str, in_the_files: bool) -> str:
        return fix_diff(get_patch(patch_id), root, in_the_files=in_the_files)

    try:
        document = vex_json(report, diff_of, __version__)
    except VexUnavailable:
        raise Failure(messages.vex_needs_cyclonedx()) from None
    if output:
        write_output(output, (document + "\n").encode("utf-8"))
    else:
        click.echo(document)
