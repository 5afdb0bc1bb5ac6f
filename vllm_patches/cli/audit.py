"""``vllm-patches audit``: the upgrade audit (the logic is in ``audit``)."""

from __future__ import annotations

import sys

import click

from vllm_patches.cli.common import (
    EXIT_ATTENTION,
    Failure,
    catalog_option,
    emit_json,
    friendly_errors,
    print_table,
)


@click.command("audit")
@click.option("--to", "to", multiple=True, required=True, metavar="VERSION[,VERSION...]",
              help="The vLLM release(s) you consider upgrading to: a comma list, or repeat "
              "the option. Their files are fetched into the user cache, never installed.")
@click.option("--from", "from_", metavar="VERSION",
              help="Start from this vLLM release instead of the installed vLLM.")
@click.option("--target", metavar="DIR",
              help="Start from the vLLM in this folder (a fork checkout, another "
              "site-packages) instead of the installed vLLM.")
@click.option("--vllm-version", metavar="VERSION",
              help="Treat the vLLM to start from as this version (also "
              "VLLM_PATCHES_VLLM_VERSION).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@catalog_option
@click.argument("ids", nargs=-1, metavar="[ID]...")
@friendly_errors
def audit(to, from_, target, vllm_version, as_json, ids) -> None:
    """Say what upgrading vLLM does to each catalogued patch, before you install it.

    For the vLLM you run (the installed one, --target DIR, or --from VERSION)
    and for each --to release, each patch gets the verdict that status would
    give there: applicable (still needed), fixed-upstream, target-modified
    (a fork's or upstream's change to the code it wraps), not-applicable. The
    advice per patch: port (the code it wraps changed, or is gone where you
    now have the pre-fix code), keep (still needed), drop (fixed upstream),
    nothing. Exit 1 when a patch must be ported, 0 otherwise.

    \b
    Example:
      vllm-patches audit --to 0.30.0
      vllm-patches audit --from 0.22.1 --to 0.23.0,0.33.0
      vllm-patches audit --target ~/src/vllm-fork --to 0.33.0 --json
      vllm-patches audit --catalog ~/acme-patches --from 0.26.0 --to 0.30.0
    """
    from vllm_patches.authoring import audit as logic
    from vllm_patches.core.catalog import select
    from vllm_patches.core.detect import find_vllm

    if from_ and target:
        raise Failure(logic.from_and_target())
    releases = logic.parse_releases(to)
    patches = select(ids)
    if from_:
        from vllm_patches.core.releases import release_tree

        click.echo(logic.reading_release(from_), err=True)
        before = find_vllm(release_tree(from_), vllm_version)
    else:
        before = find_vllm(target, vllm_version)
    if before is None:
        raise Failure(logic.no_starting_point())
    result = logic.audit(patches, before, releases,
                         progress=lambda line: click.echo(line, err=True))
    if as_json:
        emit_json(result.to_dict())
    else:
        _print(result)
    if result.needs_port:
        sys.exit(EXIT_ATTENTION)


def _print(result) -> None:
    before = result.before
    click.echo(f"Upgrade audit: from vLLM {before.version or 'version unknown'} at "
               f"{before.location} to {', '.join(result.releases)}")
    click.echo("")
    head = ("PATCH", f"FROM {result.patches[0].before.label}" if result.patches else "FROM",
            *(f"TO {v}" for v in result.releases), "ADVICE")
    rows = [head] + [(p.patch.id, str(p.before.state), *(str(v.state) for v in p.after),
                      str(p.advice)) for p in result.patches]
    print_table(rows)
    for p in result.patches:
        click.echo(f"\n{p.patch.id}: {p.why}")
    from vllm_patches.authoring.audit import advisories_line

    closed, kept = result.advisories_closed(), result.advisories_kept()
    if any(closed.values()) or any(kept.values()):
        click.echo("")
        for release in result.releases:
            click.echo(advisories_line(release, closed[release], kept[release]))
