"""The state of a backport left to the user (``--keep-conflicts``), as cherry_picker keeps one.

One JSON file in the repository's git dir, ``vllm-patches-backport.json``,
lists each kept backport: the branch it goes onto (and that branch's commit
then), the patch, the new branch, the worktree left for the user (its path as
``git worktree list`` records it) and the token of the marker left in git's
record of it (see ``worktrees``), the strategy and the commit message to use.
``--continue`` and ``--abort`` read it; it is removed when nothing is left
pending. While it exists, a new backport in that repository is refused.

The file is someone else's content as much as the repository is: it is read
with ``core.files.read_untrusted`` (a plain file, bounded) and every field is
checked (type, length, shape) before anything is done; a file that fails a
check is one sentence, and nothing is changed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from vllm_patches._version import __version__
from vllm_patches.backport import messages
from vllm_patches.backport.gitrepo import FOLDER_PREFIX, TREE
from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.files import (
    NotJsonObject,
    json_object,
    read_untrusted,
    untrusted_problem,
    write_atomic,
)

FILE_NAME = "vllm-patches-backport.json"
FORMAT = 2
EDIT = "edit"
CHERRY_PICK = "cherry-pick"
STRATEGIES = (EDIT, CHERRY_PICK)

MAX_BYTES = 8 << 20
MAX_PENDING = 256
MAX_LINE = 1024  # a branch name, a version, where it was read
MAX_PATH = 4096
MAX_MESSAGE = 1 << 20
SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
TOKEN = re.compile(r"[0-9a-f]{32}")
PATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
WORKTREE_FOLDER = re.compile(re.escape(FOLDER_PREFIX) + r"[A-Za-z0-9_]{1,64}")


class StateError(VllmPatchesError):
    """The state file cannot be read, or fails a check."""


class _Invalid(Exception):
    """A state file that fails a check; the message is the problem."""


@dataclass(frozen=True)
class Pending:
    onto: str
    onto_sha: str
    patch: str
    branch: str
    worktree: str  # the worktree left for the user, as git worktree list records it
    token: str  # the marker's, in git's record of that worktree
    strategy: str
    message: str
    vllm_version: str | None = None
    version_from: str = "unknown"
    upstream_commit: str | None = None


def state_path(git_dir: Path) -> Path:
    return Path(git_dir) / FILE_NAME


def load(git_dir: Path) -> list[Pending]:
    """The pending backports; empty when no state file exists. StateError when the file is
    not a plain file, too large, or fails a check."""
    path = state_path(git_dir)
    try:
        raw = read_untrusted(path, limit=MAX_BYTES)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StateError(messages.backport_state_untrusted(path, untrusted_problem(exc))) from None
    try:
        return parse(raw)
    except _Invalid as exc:
        raise StateError(messages.backport_state_untrusted(path, exc)) from None


def save(git_dir: Path, pending: list[Pending]) -> None:
    """Write the state (atomically), or remove the file when nothing is pending."""
    path = state_path(git_dir)
    if not pending:
        path.unlink(missing_ok=True)
        return
    data = {"format": FORMAT, "written_by": f"vllm-patches {__version__}",
            "pending": [asdict(p) for p in pending]}
    write_atomic(path, json.dumps(data, indent=2) + "\n")


# Checking ------------------------------------------------------------------------
def parse(raw: bytes) -> list[Pending]:
    """The pending backports in ``raw``, every field checked (``_Invalid`` otherwise)."""
    try:
        data = json_object(raw)
    except NotJsonObject as exc:
        raise _Invalid(str(exc)) from None
    _keys(data, {"format", "written_by", "pending"}, "the file")
    if data["format"] != FORMAT or isinstance(data["format"], bool):
        raise _Invalid(f"format {data['format']!r:.20} where this vllm-patches reads {FORMAT}")
    _line(data["written_by"], "written_by")
    entries = data["pending"]
    if not isinstance(entries, list) or not 0 < len(entries) <= MAX_PENDING:
        raise _Invalid(f"'pending' is not a list of 1 to {MAX_PENDING} backports")
    pending = [_pending(entry, i) for i, entry in enumerate(entries)]
    for key in ("branch", "worktree"):
        named = [getattr(p, key) for p in pending]
        if len(set(named)) != len(named):
            raise _Invalid(f"two backports name the same {key}")
    return pending


def _pending(raw: object, i: int) -> Pending:
    where = f"backport {i + 1}"
    if not isinstance(raw, dict):
        raise _Invalid(f"{where} is not an object")
    _keys(raw, {f.name for f in fields(Pending)}, where)
    _line(raw["onto"], f"'onto' of {where}")
    _match(raw["onto_sha"], SHA, f"'onto_sha' of {where}", "a commit sha")
    _match(raw["patch"], PATCH_ID, f"'patch' of {where}", "a patch id")
    _branch(raw["branch"], f"'branch' of {where}")
    _worktree(raw["worktree"], f"'worktree' of {where}")
    _match(raw["token"], TOKEN, f"'token' of {where}", "a vllm-patches marker token")
    if raw["strategy"] not in STRATEGIES:
        raise _Invalid(f"'strategy' of {where} is not one of {', '.join(STRATEGIES)}")
    _text(raw["message"], f"'message' of {where}", MAX_MESSAGE)
    if raw["vllm_version"] is not None:
        _line(raw["vllm_version"], f"'vllm_version' of {where}")
    _line(raw["version_from"], f"'version_from' of {where}")
    if raw["upstream_commit"] is not None:
        _match(raw["upstream_commit"], SHA, f"'upstream_commit' of {where}", "a commit sha")
    return Pending(**raw)


def _keys(data: dict, want: set[str], where: str) -> None:
    missing, extra = want - data.keys(), data.keys() - want
    if missing:
        raise _Invalid(f"{where} lacks {', '.join(sorted(missing))}")
    if extra:
        raise _Invalid(f"{where} has unknown fields: {', '.join(sorted(map(str, extra)))[:200]}")


def _text(value: object, what: str, limit: int) -> None:
    if not isinstance(value, str) or not value or len(value) > limit or "\0" in value:
        raise _Invalid(f"{what} is not a text of 1 to {limit} characters")


def _line(value: object, what: str) -> None:
    _text(value, what, MAX_LINE)
    if "\n" in value or "\r" in value:
        raise _Invalid(f"{what} is more than one line")


def _match(value: object, pattern: re.Pattern, what: str, kind: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _Invalid(f"{what} is not {kind}")


def _branch(value: object, what: str) -> None:
    _line(value, what)
    if value.startswith("-") or value.startswith("refs/"):
        raise _Invalid(f"{what} is not a branch name")


def _worktree(value: object, what: str) -> None:
    """A worktree backport makes: an absolute, normalised ``.../vllm-patches-backport-*/tree``."""
    _text(value, what, MAX_PATH)
    path = Path(value)
    if (not os.path.isabs(value) or os.path.normpath(value) != value or "\n" in value
            or path.name != TREE or not WORKTREE_FOLDER.fullmatch(path.parent.name)):
        raise _Invalid(f"{what} is not a worktree vllm-patches makes "
                       f"(an absolute path ending in {FOLDER_PREFIX}*/{TREE})")
