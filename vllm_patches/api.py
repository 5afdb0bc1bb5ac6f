"""The Python API's verbs, each named for its mode (``vllm_patches`` re-exports them).

Runtime mode rebinds vLLM's functions in this process (what the vLLM plugin does at
start-up); source mode writes the fixes into a vLLM tree's files, as the
``vllm-patches apply`` command does. ``status`` is the report ``vllm-patches status``
prints. Every import is inside a verb: importing the package stays free for the plugin.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from vllm_patches.core.detect import VllmInstall
    from vllm_patches.core.status import StatusReport
    from vllm_patches.runtime.patcher import Result as RuntimeResult
    from vllm_patches.source.plan import Report as SourceReport
    from vllm_patches.source.record import Record

Ids = Union[str, Sequence[str], None]  # one id, several, or None for the whole catalogue
Tree = Union[str, Path, None]  # the folder that holds vllm/; None: the installed vLLM

__all__ = ["Ids", "Tree", "apply_runtime", "apply_source", "revert_runtime", "revert_source",
           "status"]


def apply_runtime(ids: Ids = None, *, force: bool = False,
                  strict: bool | None = None) -> list[RuntimeResult]:
    """Apply catalogued patches (all when ``ids`` is empty) in this process, at run time.

    ``strict`` (default: ``VLLM_PATCHES_STRICT``) raises ``PatchError`` at the first patch
    that is refused or fails; ``force`` applies over a fork's change to the code."""
    from vllm_patches.runtime import patcher

    return patcher.apply(ids, force=force, strict=strict)


def revert_runtime(ids: Ids = None) -> list[RuntimeResult]:
    """Put back the original functions of the patches applied at run time in this process."""
    from vllm_patches.runtime import patcher

    return patcher.revert(ids)


def apply_source(ids: Ids = None, *, target: Tree = None, vllm_version: str | None = None,
                 force: bool = False, dry_run: bool = False) -> SourceReport:
    """Write fixes into a vLLM tree's own files (all applicable ones when ``ids`` is empty),
    all together or not at all, as ``vllm-patches apply`` does."""
    from vllm_patches.source import plan

    return plan.apply(_tree(target, vllm_version), _patches(ids), force=force, dry_run=dry_run)


def revert_source(ids: Ids = None, *, target: Tree = None, vllm_version: str | None = None,
                  force: bool = False) -> SourceReport:
    """Give a vLLM tree's files their original bytes back, as ``vllm-patches revert`` does."""
    from vllm_patches.source import plan

    return plan.revert(_tree(target, vllm_version), _patches(ids), force=force)


def status(ids: Ids = None, *, target: Tree = None,
           vllm_version: str | None = None) -> StatusReport:
    """The state of each catalogued patch (all when ``ids`` is empty) for the installed vLLM
    or the tree ``target``: the report ``vllm-patches status`` prints."""
    from vllm_patches.core.catalog import select
    from vllm_patches.core.detect import find_vllm
    from vllm_patches.core.state import patch_status
    from vllm_patches.core.status import build

    install = find_vllm(target, vllm_version)
    record, pending, warnings = _source_record(install)
    # Start-up and this process concern the vLLM of this environment, not a target tree.
    here = target is None and install is not None
    statuses = [patch_status(p, install, runtime_applied=here and _applied_here(p.id),
                             record=record) for p in select(_id_list(ids))]
    return build(install, statuses, autopatch=_autopatch() if here else None,
                 pending_write=pending, warnings=warnings)


def _id_list(ids: Ids) -> list[str]:
    return [ids] if isinstance(ids, str) else list(ids or ())


def _patches(ids: Ids):
    from vllm_patches.core.catalog import select

    chosen = _id_list(ids)
    return select(chosen) if chosen else None  # None: the source mode's own choice of all


def _tree(target: Tree, vllm_version: str | None) -> VllmInstall:
    from vllm_patches.core.detect import find_vllm
    from vllm_patches.source import messages
    from vllm_patches.source.plan import SourceError

    install = find_vllm(target, vllm_version)
    if install is None:
        raise SourceError(messages.source_no_tree())
    return install


def _applied_here(patch_id: str) -> bool:
    """Whether this process runs ``patch_id`` at run time: never before the runtime patcher
    was imported, so that ``status`` does not import it for nothing."""
    patcher = sys.modules.get("vllm_patches.runtime.patcher")
    return patcher is not None and patcher.is_applied(patch_id)


def _autopatch():
    from vllm_patches.runtime.autopatch import describe

    return describe()


def _source_record(install: VllmInstall | None) -> tuple[Record | None, bool, list[str]]:
    """The tree's source-mode record (None, with a warning, when corrupt) and whether an
    interrupted write is pending there."""
    if install is None or not (install.location / ".vllm-patches").is_dir():
        return None, False, []  # never source-patched: no need to import the record's modules
    from vllm_patches.source.record import RecordError, load, state_dir
    from vllm_patches.source.transaction import pending

    try:
        return load(install.location), pending(state_dir(install.location)), []
    except RecordError as exc:
        return None, pending(state_dir(install.location)), [str(exc)]
