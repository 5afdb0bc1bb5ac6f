"""The state of a backport left to the user (``--keep-conflicts``), as cherry_picker keeps one.

One JSON file in the repository's git dir, ``vllm-patches-backport.json``,
lists each kept backport: the branch it goes onto (and that branch's commit
then), the patch, the new branch, the worktree left for the user, the
strategy and the commit message to use. ``--continue`` and ``--abort`` read
it; it is removed when nothing is left pending. While it exists, a new
backport in that repository is refused.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from vllm_patches.core.files import write_atomic
from vllm_patches.backport import messages
from vllm_patches._version import __version__
from vllm_patches.core.errors import VllmPatchesError

FILE_NAME = "vllm-patches-backport.json"
FORMAT = 1


class StateError(VllmPatchesError):
    """The state file cannot be read."""


@dataclass(frozen=True)
class Pending:
    onto: str
    onto_sha: str
    patch: str
    branch: str
    worktree: str  # the folder that holds the worktree (``<folder>/tree``)
    strategy: str
    message: str
    vllm_version: str | None = None
    version_from: str = "unknown"
    upstream_commit: str | None = None


def state_path(git_dir: Path) -> Path:
    return Path(git_dir) / FILE_NAME


def load(git_dir: Path) -> list[Pending]:
    """The pending backports; empty when no state file exists."""
    path = state_path(git_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Pending(**item) for item in data["pending"]]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StateError(messages.backport_state_unreadable(path, exc)) from None


def save(git_dir: Path, pending: list[Pending]) -> None:
    """Write the state (atomically), or remove the file when nothing is pending."""
    path = state_path(git_dir)
    if not pending:
        path.unlink(missing_ok=True)
        return
    data = {"format": FORMAT, "written_by": f"vllm-patches {__version__}",
            "pending": [asdict(p) for p in pending]}
    write_atomic(path, json.dumps(data, indent=2) + "\n")
