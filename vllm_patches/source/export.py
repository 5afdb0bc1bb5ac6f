"""Catalogued fixes as a ``git format-patch`` style mbox, for ``git am`` or quilt.

Each message holds the commit message of a backport (subject, body,
provenance trailers), a diffstat and a unified diff computed now, with
difflib, from the target tree's real files to the text the source engine
writes. Paths are relative to the folder that holds ``vllm/`` (``a/vllm/...``,
``b/vllm/...``), so ``git am`` applies the file in a fork checkout, and the
``index`` lines carry the real blob ids, so ``git am -3`` can fall back to a
three-way merge. The date is now, or ``SOURCE_DATE_EPOCH`` when set.
Module files are read through ``sourcefile``: the diff and the blob ids are
of their exact bytes, whatever encoding (PEP 263), BOM or line endings they
have, so write the mbox with ``sourcefile.diff_bytes``.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime

from vllm_patches.core import commit_message
from vllm_patches._version import __version__
from vllm_patches.core.catalog import Patch
from vllm_patches.core.detect import VllmInstall
from vllm_patches.source.diffs import git_lines, unified_diff
from vllm_patches.source.edit import EditError, patch_text
from vllm_patches.core.sourcefile import SourceTextError, diff_view, read_source

DEFAULT_AUTHOR = "vllm-patches <vllm-patches@noreply.invalid>"
NO_COMMIT = "0" * 40  # format-patch's first line names a commit; these changes have none yet
GRAPH_WIDTH = 50


class ExportError(Exception):
    """A fix cannot be written into this tree (the source engine refused)."""


@dataclass(frozen=True)
class FileChange:
    """One file's change: its bytes before and after, and git's mode of the file."""

    relpath: str
    old: bytes
    new: bytes
    mode: str

    def diff(self) -> str:
        return unified_diff(self.relpath, diff_view(self.old), diff_view(self.new),
                            f"{_blob_id(self.old)[:12]}..{_blob_id(self.new)[:12]} {self.mode}")

    def counts(self) -> tuple[int, int]:
        added = removed = 0
        for line in git_lines(self.diff())[4:]:
            if line.startswith("+"):
                added += 1
            elif line.startswith("-"):
                removed += 1
        return added, removed


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def changes(patch: Patch, install: VllmInstall, *, force: bool = False) -> list[FileChange]:
    """What writing ``patch`` into ``install``'s files changes, file by file.

    ExportError when the source engine refuses; SourceTextError when a module
    cannot be read (bad input).
    """
    out = []
    texts: dict[str, str | None] = {}  # two targets in one file: the second edits the first's
    sources = {}
    for target in patch.targets:
        rel = target.relpath
        if rel not in texts:
            try:
                sources[rel] = read_source(install.module_path(target.module))
                texts[rel] = sources[rel].text
            except FileNotFoundError:
                texts[rel] = None  # patch_text refuses, naming the module
        try:
            texts[rel] = patch_text(patch, target, texts[rel], force=force)
        except EditError as exc:
            raise ExportError(str(exc)) from None
    for rel, text in texts.items():
        try:
            new = sources[rel].encode(text)
        except SourceTextError as exc:
            raise ExportError(str(exc)) from None
        out.append(file_change(install, rel, sources[rel].raw, new))
    return out


def file_change(install: VllmInstall, relpath: str, old: bytes, new: bytes) -> FileChange:
    """One file's change, with git's mode of the file in the tree."""
    mode = "100755" if os.stat(install.location / relpath).st_mode & stat.S_IXUSR else "100644"
    return FileChange(relpath, old, new, mode)


def diffstat(files: list[FileChange]) -> str:
    counts = [(f.relpath, *f.counts()) for f in files]
    width = max(len(path) for path, _, _ in counts)
    biggest = max(added + removed for _, added, removed in counts) or 1
    scale = min(1.0, GRAPH_WIDTH / biggest)
    lines = []
    for path, added, removed in counts:
        plus, minus = round(added * scale), round(removed * scale)
        lines.append(f" {path.ljust(width)} | {added + removed} {'+' * plus}{'-' * minus}")
    total_added = sum(a for _, a, _ in counts)
    total_removed = sum(r for _, _, r in counts)
    summary = f" {len(files)} file{'s' if len(files) != 1 else ''} changed"
    summary += f", {total_added} insertion{'s' if total_added != 1 else ''}(+)"
    summary += f", {total_removed} deletion{'s' if total_removed != 1 else ''}(-)"
    return "\n".join(lines + [summary]) + "\n"


def _date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (datetime.fromtimestamp(int(epoch), timezone.utc) if epoch and epoch.isdigit()
            else datetime.now(timezone.utc))
    return format_datetime(when)


def mbox_message(patch: Patch, install: VllmInstall, files: list[FileChange], *,
                 author: str = DEFAULT_AUTHOR, number: tuple[int, int] = (1, 1)) -> str:
    commit_message.check_author(author)
    index, total = number
    tag = "[PATCH]" if total == 1 else f"[PATCH {index}/{total}]"
    body = commit_message.body(patch, None, install.version)
    return (
        f"From {NO_COMMIT} Mon Sep 17 00:00:00 2001\n"
        f"From: {author}\n"
        f"Date: {_date()}\n"
        f"Subject: {tag} {commit_message.subject(patch)}\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n"
        f"{body}\n\n{commit_message.trailer_block(patch)}\n"
        "---\n"
        f"{diffstat(files)}\n"
        + "".join(f.diff() for f in files)
        + f"-- \nvllm-patches {__version__}\n\n"
    )


def export(patches: list[Patch] | tuple[Patch, ...], install: VllmInstall, *,
           force: bool = False, author: str = DEFAULT_AUTHOR) -> str:
    """The mbox of ``patches`` for ``install``'s tree (ExportError when one is refused,
    AuthorError when ``author`` is not one ``Name <email>`` line)."""
    commit_message.check_author(author)
    all_changes = [changes(p, install, force=force) for p in patches]
    total = len(patches)
    return "".join(
        mbox_message(p, install, files, author=author, number=(i, total))
        for i, (p, files) in enumerate(zip(patches, all_changes), start=1)
    )
