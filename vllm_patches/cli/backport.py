"""``vllm-patches backport``: catalogued fixes as commits on fork branches."""

from __future__ import annotations

import sys

import click

from vllm_patches.cli import messages
from vllm_patches.cli.common import (EXIT_ATTENTION, Failure, catalog_option, emit_json,
                                     deprecated, friendly_errors, print_table)


@click.command()
@click.option("--repo", default=".", show_default=True, metavar="PATH",
              type=click.Path(file_okay=False, path_type=str),
              help="The fork's git repository (any folder inside it).")
@click.option("--onto", multiple=True, metavar="BRANCH",
              help="A branch to put the fixes on; repeat for several.")
@click.option("--patch", "old_ids", multiple=True, metavar="ID", hidden=True,
              help="Deprecated: give the IDs as arguments.")
@click.option("--branch", metavar="NAME",
              help="Name of the new branch; {patch} and {onto} are replaced.  "
                   "[default: backport/{patch}/{onto}]")
@click.option("--strategy", type=click.Choice(["edit", "cherry-pick"]), default="edit",
              show_default=True,
              help="edit: write the catalogued fix with the source engine; cherry-pick: "
                   "git cherry-pick -x the fix's upstream commit when the repo has it.")
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
@click.option("--force", is_flag=True,
              help="Write the fix even where the fork changed the target code (edit strategy).")
@click.option("--keep-conflicts", is_flag=True,
              help="Leave a refused or conflicting backport in a worktree for you to finish "
                   "with --continue (or drop with --abort).")
@click.option("--continue", "resume", is_flag=True,
              help="Commit what you did in the worktrees left by --keep-conflicts.")
@click.option("--abort", is_flag=True,
              help="Remove the worktrees and branches left by --keep-conflicts.")
@click.option("--vllm-version", metavar="VERSION",
              help="Treat every --onto branch as this vLLM version.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@catalog_option
@friendly_errors
def backport(repo, onto, old_ids, ids, branch, strategy, dry_run, force, keep_conflicts, resume, abort,
             vllm_version, as_json) -> None:
    """Put catalogued fixes on fork branches, one reviewable commit each.

    Without ID: every catalogued patch. For each --onto branch: read its vLLM version (--vllm-version, a committed
    vllm/_version.py, else the nearest version tag) and judge each patch as
    status does; where the fix is needed, commit it on a new branch whose
    message names the upstream PR and carries Backport-of, Origin, Patch-id
    and Applied-by trailers. Work happens in a temporary git worktree: your
    checkout, HEAD, index and stash are never touched, and a refused or
    conflicting backport leaves nothing behind (unless --keep-conflicts).

    Exit 0 when every branch got its commit or needs none, 1 when one is
    blocked or left to you, 2 on bad input.

    \b
    Example:
      vllm-patches backport --repo ~/src/vllm-fork --onto acme/v0.22-prod --onto acme/v0.21-prod
      vllm-patches backport gemma4-mtp-stable-lm-head --onto acme/v0.22-prod --dry-run
      vllm-patches backport --onto acme/v0.22-custom --keep-conflicts
      vllm-patches backport --continue      # after making the change by hand
    """
    from vllm_patches.backport import workflow as verbs

    if old_ids:
        deprecated("backport --patch ID", "backport ID... (the IDs as arguments)")
        ids = (*ids, *old_ids)
    if resume and abort:
        raise Failure(messages.backport_continue_and_abort())
    if (resume or abort) and (onto or ids or branch or dry_run or force or keep_conflicts):
        raise Failure(messages.backport_continue_alone())
    if resume:
        results = verbs.resume(repo)
    elif abort:
        results = verbs.abort(repo)
    else:
        results = verbs.backport(repo, onto, ids, branch=branch, strategy=strategy,
                                 dry_run=dry_run, force=force,
                                 keep_conflicts=keep_conflicts, vllm_version=vllm_version)
    if as_json:
        emit_json({"results": [r.to_dict() for r in results]})
    else:
        _print_backport(results)
    if not all(r.ok for r in results):
        sys.exit(EXIT_ATTENTION)


def _print_backport(results) -> None:
    versions = {}
    for r in results:
        versions.setdefault(r.onto, (r.vllm_version, r.version_from))
    for onto, (version, origin) in versions.items():
        click.echo(f"{onto}: vLLM {version or 'unknown'} ({origin})")
    click.echo("")
    rows = [("ONTO", "PATCH", "OUTCOME", "NEW BRANCH", "COMMIT")] + [
        (r.onto, r.patch, r.outcome, r.branch or "-", (r.sha or "-")[:12]) for r in results
    ]
    print_table(rows)
    click.echo("")
    for r in results:
        click.echo(f"{r.onto} / {r.patch}: {r.reason}")
