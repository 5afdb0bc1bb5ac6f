"""The one guard for paths that vllm-patches reads from disk or writes into a tree.

A vLLM tree is the folder that holds ``vllm/`` (``root``). vllm-patches
reads and writes only two areas of it: the package's files under ``vllm/``
and its own state under ``.vllm-patches/`` (the record, the journal, the
lock). Every relative path that comes from a file (the journal, the record)
or that source mode is about to write goes through ``resolve(root, rel)``:

- it must be a ``str``, non-empty, without NUL or another control
  character, relative, without ``..``, and in its plain form (no ``.`` or
  empty parts, no trailing ``/``);
- no part of it may be ``.git``, and its first part must name an allowed
  area;
- after resolving every symlink (the last part too) it must still lie inside
  the resolved root, in an allowed area, and not under ``.git``.

A path that breaks a rule raises ``UnsafePath``: its message is one sentence,
and ``problem`` the part of it that callers quote inside their own sentence.
``read_regular`` reads a file that must be a plain file (never through a
symlink, never a FIFO that would block).
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path, PurePosixPath

from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.files import NotPlainFile, TooLarge, read_untrusted, untrusted_problem

STATE_DIR = ".vllm-patches"  # beside vllm/: the record, the journal and the lock


class Area(Enum):
    """The parts of a tree vllm-patches may touch: the first part of a relative path."""

    VLLM = "vllm"
    STATE = STATE_DIR


EVERY_AREA = frozenset(Area)


class UnsafePath(VllmPatchesError):
    """A path read from disk (or about to be written) that leads where vllm-patches never goes."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"{problem}; vllm-patches reads and writes only under vllm/ and "
                         f"{STATE_DIR}/ of the tree it was given.")
        self.problem = problem


def checked(rel: object, areas: frozenset[Area] = EVERY_AREA) -> PurePosixPath:
    """``rel`` as a path, when its text alone obeys the rules (nothing on disk is looked at)."""
    if not isinstance(rel, str) or not rel:
        raise UnsafePath(f"{rel!r} is not a path")
    if not rel.isprintable():
        raise UnsafePath(f"{rel!r} holds a NUL byte or another control character")
    path = PurePosixPath(rel)
    if path.is_absolute():
        raise UnsafePath(f"{rel} leads outside the vLLM tree (an absolute path)")
    if ".." in path.parts:
        raise UnsafePath(f"{rel} leads outside the vLLM tree (through '..')")
    if str(path) != rel:
        raise UnsafePath(f"{rel!r} is not a plain relative path (write it as {str(path)!r})")
    _check_parts(rel, path.parts, areas)
    return path


def resolve(root: Path, rel: object, areas: frozenset[Area] = EVERY_AREA) -> Path:
    """``root / rel`` with every symlink resolved, refusing a path that breaks a rule."""
    path = checked(rel, areas)
    real_root = Path(os.path.realpath(root))
    try:
        resolved = (root / path).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        raise UnsafePath(f"{rel} cannot be resolved (a symlink loop) in the vLLM tree {root}") \
            from None
    try:
        inner = resolved.relative_to(real_root)
    except ValueError:
        raise UnsafePath(f"{rel} leads outside the vLLM tree {root} (through a symlink to "
                         f"{resolved})") from None
    # str(path) is rel: checked() refuses a rel that is not a str in its plain form.
    _check_parts(str(path), inner.parts, areas, through=f"through a symlink to {resolved}")
    return resolved


def _check_parts(rel: str, parts: tuple[str, ...], areas: frozenset[Area],
                 through: str = "") -> None:
    how = f" ({through})" if through else ""
    if any(part.lower() == ".git" for part in parts):
        raise UnsafePath(f"{rel} is under .git{how}, where vllm-patches never goes")
    names = {area.value for area in areas}
    if not parts or parts[0] not in names:
        allowed = " or ".join(f"{name}/" for name in sorted(names))
        raise UnsafePath(f"{rel} is not under {allowed}{how}")


def read_regular(path: Path) -> bytes:
    """The bytes of ``path``, which must be a plain file and not a symlink
    (``files.read_untrusted``, bounded).

    Raises ``FileNotFoundError`` when it does not exist, ``UnsafePath`` when it
    is a symlink, a folder, a FIFO, a device or too large, ``OSError`` otherwise.
    """
    try:
        return read_untrusted(path)
    except (NotPlainFile, TooLarge) as exc:
        raise UnsafePath(f"{path} {untrusted_problem(exc)}") from None
