"""``vllm-patches uninstall``: take vllm-patches out of an environment, before pip does.

Three steps, each through the path its own command takes: the source patches the
tree's record names are reverted (``source.plan.revert_recorded``: byte for byte, in
one transaction), the ``.pth`` hook is removed (``runtime.hookfile.uninstall``), and the
tree's state folder ``.vllm-patches/`` goes with its record. What is left is said last:
the package itself, whose ``vllm.general_plugins`` entry point goes with
``pip uninstall vllm-patches``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import click

from vllm_patches.cli import messages
from vllm_patches.cli.common import (EXIT_ATTENTION, catalog_option, emit_json, friendly_errors,
                                     site_option, target_options)
from vllm_patches.core.words import Outcome, Word


class Removal(Word):
    """What became of one thing vllm-patches put into the environment."""

    REMOVED = "removed"
    WOULD_REMOVE = "would-remove"
    ABSENT = "absent"  # it was not there
    KEPT = "kept"  # it could not be removed: the command exits 1


@dataclass(frozen=True)
class Step:
    what: str  # "hook" or "state"
    path: Path | None
    removal: Removal
    message: str

    @property
    def ok(self) -> bool:
        return self.removal is not Removal.KEPT

    def to_dict(self) -> dict[str, object]:
        return {"what": self.what, "path": None if self.path is None else str(self.path),
                "outcome": str(self.removal), "message": self.message}


@click.command("uninstall")
@target_options
@site_option
@click.option("--dry-run", is_flag=True, help="Say what would be removed; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@catalog_option
@friendly_errors
def uninstall(target, vllm_version, site, dry_run, as_json) -> None:
    """Take vllm-patches out of this environment, before pip uninstall vllm-patches.

    In this order: revert every fix that the vLLM tree's record names (the
    installed vLLM, or --target DIR), byte for byte and all together, as
    revert does; remove the .pth hook (from this Python's site-packages, or
    --site DIR), as hook uninstall does; the tree's .vllm-patches/ folder goes
    with its record. Then it says what is left: the package itself, whose
    vllm.general_plugins entry point patches vLLM's processes at start-up
    until pip uninstall vllm-patches removes it. A fix in the files without a
    record (a fork's committed backport) stays, and is named.

    Exit 0 when everything was removed (or was not there), 1 when something
    could not be (one sentence each on stderr), 2 on bad input (nothing changed).

    \b
    Example:
      vllm-patches uninstall --dry-run
      vllm-patches uninstall && pip uninstall vllm-patches
      vllm-patches uninstall --target ~/src/vllm-fork --site /opt/venv/lib/python3.11/site-packages
    """
    from vllm_patches.core.detect import find_vllm
    from vllm_patches.runtime import hookfile
    from vllm_patches.source import plan as source
    from vllm_patches.source.record import state_dir

    install = find_vllm(target, vllm_version)  # bad input ends here, before any change
    hook_file = hookfile.status(site)
    state = None if install is None else state_dir(install.location)
    existed = state is not None and state.is_dir()
    report = None if install is None else source.revert_recorded(install, dry_run=dry_run)
    results = [] if report is None else report.results
    steps = [_hook(hook_file, dry_run), _state(state, existed, results, dry_run)]
    left = _left(install)
    if as_json:
        emit_json({"vllm": None if install is None else install.to_dict(), "dry_run": dry_run,
                   "results": [r.to_dict() for r in results],
                   "steps": [s.to_dict() for s in steps], "left": left,
                   "ok": all(r.ok for r in results) and all(s.ok for s in steps)})
    else:
        _print(install, results, steps, left)
    if not (all(r.ok for r in results) and all(s.ok for s in steps)):
        sys.exit(EXIT_ATTENTION)


def _hook(hook_file, dry_run: bool) -> Step:
    """Remove the ``.pth`` hook (``hook uninstall``'s path)."""
    from vllm_patches.runtime.hookfile import HookError, uninstall

    if not hook_file.installed:
        return Step("hook", hook_file.path, Removal.ABSENT,
                    messages.hook_not_installed(hook_file.site))
    if dry_run:
        return Step("hook", hook_file.path, Removal.WOULD_REMOVE,
                    messages.uninstall_would_remove(hook_file.path))
    try:
        state, changed = uninstall(hook_file.site)
    except HookError as exc:
        return Step("hook", hook_file.path, Removal.KEPT, str(exc))
    if not changed:
        return Step("hook", state.path, Removal.ABSENT, messages.hook_not_installed(state.site))
    return Step("hook", state.path, Removal.REMOVED, messages.hook_removed(state.path))


def _state(state: Path | None, existed: bool, results, dry_run: bool) -> Step:
    """What became of the tree's state folder once the recorded patches were reverted
    (the revert removes it with the last entry of its record)."""
    from vllm_patches.source.transaction import strangers

    if state is None or not existed:
        return Step("state", state, Removal.ABSENT, messages.uninstall_no_state(state))
    refused = [r.id for r in results if r.outcome == Outcome.REFUSED]
    others = strangers(state) if state.is_dir() else []
    if refused or others:
        return Step("state", state, Removal.KEPT,
                    messages.uninstall_state_kept(state, refused, others))
    if dry_run:
        return Step("state", state, Removal.WOULD_REMOVE, messages.uninstall_would_remove(state))
    if state.is_dir():  # never expected: the revert tidies it away with its record
        return Step("state", state, Removal.KEPT, messages.uninstall_state_kept(state, [], []))
    return Step("state", state, Removal.REMOVED, messages.uninstall_state_removed(state))


def _left(install) -> list[str]:
    """What vllm-patches leaves, one sentence each; pip uninstall last."""
    from vllm_patches.core.files import cache_root
    from vllm_patches.source.plan import unrecorded_fixes

    left = [] if install is None else [messages.uninstall_unrecorded_fix(pid, install.location)
                                         for pid in unrecorded_fixes(install)]
    if cache_root().is_dir():
        left.append(messages.uninstall_cache_left(cache_root()))
    return left + [messages.uninstall_package_left()]


def _print(install, results, steps: list[Step], left: list[str]) -> None:
    click.echo(messages.uninstall_no_vllm() if install is None else
               f"vLLM {install.version or 'version unknown'} at {install.location}")
    for result in results:
        if result.ok:
            click.echo(f"  {result.message}")
        else:
            click.echo(f"vllm-patches: {result.message}.", err=True)
    for step in steps:
        if step.ok:
            click.echo(f"  {step.message}")
        else:
            click.echo(f"vllm-patches: {step.message}", err=True)
    click.echo("Left:")
    for line in left:
        click.echo(f"  - {line}")
