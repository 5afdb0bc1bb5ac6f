"""The record of what source mode wrote into a tree, kept with that tree.

``<root>/.vllm-patches/record.json`` (``root`` = the folder that holds
``vllm/``) lists, in the order they were applied, the patches written into
the files under ``root``: patch id, vllm-patches version, time, vLLM
version, whether ``--force`` was used, and the sha256 of each file before the
patch and as vllm-patches last left it (after the last recorded patch of that
file: two patches of one file both name its final bytes). ``revert`` checks a
file against it before giving the original bytes back; ``status`` compares it
with the files to notice drift. A record that
cannot be read is a ``RecordError`` with one sentence saying what to do.

Nothing in the record is trusted: it must be a plain file inside the tree,
each patch id must look like a catalogue id, and each file it names must be a
``vllm/...py`` path that ``pathguard`` resolves inside the tree (never through
a symlink out of it, never under ``.git``), both when it is loaded and each
time a file it names is read.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.pathguard import STATE_DIR, Area, UnsafePath, checked, read_regular, resolve
from vllm_patches.source import messages

RECORD_NAME = "record.json"
FORMAT = 1
PATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # the shape of a catalogue id
MAX_TEXT = 200  # the longest version or time string a record may hold


class RecordError(VllmPatchesError):
    """The record exists but cannot be read or understood."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checked_file(rel: object) -> str:
    """``rel`` when it may be a file of a record: a plain relative ``vllm/...py`` path."""
    path = checked(rel, frozenset({Area.VLLM}))
    if len(path.parts) < 2 or path.suffix != ".py":
        raise UnsafePath(f"{rel} is not a Python file under vllm/")
    return str(path)


def sha256_in_tree(root: Path, rel: str) -> str | None:
    """sha256 of the tree's file ``rel`` (through the guard); None when it does not exist."""
    try:
        return sha256_of(read_regular(resolve(root, checked_file(rel))))
    except FileNotFoundError:
        return None


def state_dir(root: Path) -> Path:
    return root / STATE_DIR


def record_path(root: Path) -> Path:
    return state_dir(root) / RECORD_NAME


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class FileRecord:
    before: str  # sha256 of the file before the patch was written
    after: str  # sha256 of the file as vllm-patches left it (after its last patch)


@dataclass(frozen=True)
class Entry:
    """One applied patch."""

    patch_id: str
    tool_version: str
    applied_at: str
    vllm_version: str | None
    forced: bool
    files: dict[str, FileRecord]  # path relative to root -> shas

    def changed_files(self, root: Path) -> list[str]:
        """Files whose bytes are no longer those vllm-patches wrote."""
        return [p for p, f in self.files.items() if sha256_in_tree(root, p) != f.after]

    def restored(self, root: Path) -> bool:
        """True when every file is back to its bytes from before the patch (a reinstall)."""
        return all(sha256_in_tree(root, p) == f.before for p, f in self.files.items())

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.patch_id,
            "tool_version": self.tool_version,
            "applied_at": self.applied_at,
            "vllm_version": self.vllm_version,
            "forced": self.forced,
            "files": {p: {"before": f.before, "after": f.after} for p, f in self.files.items()},
        }

    @classmethod
    def from_dict(cls, data: object) -> Entry:
        if not isinstance(data, dict):
            raise ValueError("an entry is not an object")
        parsed = _files_of(data)
        _check_lines(data)
        forced = data.get("forced", False)
        if not isinstance(forced, bool):
            raise ValueError(f"'forced' of {data['id']} is not true or false")
        return cls(
            patch_id=data["id"],
            tool_version=data["tool_version"],
            applied_at=data["applied_at"],
            vllm_version=data.get("vllm_version"),
            forced=forced,
            files=parsed,
        )


def _files_of(data: dict) -> dict[str, FileRecord]:
    """An entry's files: safe relative paths, each with its before/after sha256."""
    files = data.get("files")
    if not isinstance(files, dict) or not files:
        raise ValueError(f"entry {_shown(data.get('id'))} has no files")
    parsed = {}
    for path, shas in files.items():
        try:
            path = checked_file(path)
        except UnsafePath as exc:
            raise ValueError(exc.problem) from None
        if not isinstance(shas, dict) or not all(
            _is_sha(shas.get(k)) for k in ("before", "after")
        ):
            raise ValueError(f"file {path!r} lacks a before/after sha256")
        parsed[path] = FileRecord(shas["before"], shas["after"])
    return parsed


def _check_lines(data: dict) -> None:
    """An entry's id is a patch id, and its words about the apply are short lines."""
    for key in ("id", "tool_version", "applied_at"):
        if not isinstance(data.get(key), str):
            raise ValueError(f"an entry lacks '{key}'")
    if not PATCH_ID.fullmatch(data["id"]):
        raise ValueError(f"{_shown(data['id'])} is not a patch id")
    for key in ("tool_version", "applied_at", "vllm_version"):
        value = data.get(key)
        if value is not None and not _plain_text(value):
            raise ValueError(f"'{key}' of {data['id']} is not a short line of text")


def _plain_text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT and value.isprintable()


def _shown(value: object) -> str:
    """A value read from the record, short and on one line, to quote in a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_sha(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(
        c in "0123456789abcdef" for c in value
    )


@dataclass(frozen=True)
class Record:
    """Every patch applied in source to one tree, oldest first."""

    entries: tuple[Entry, ...] = ()

    def get(self, patch_id: str) -> Entry | None:
        return next((e for e in self.entries if e.patch_id == patch_id), None)

    def with_entry(self, entry: Entry) -> Record:
        """This record with ``entry`` last (replacing an older entry of the same patch)."""
        return replace(self, entries=self.without(entry.patch_id).entries + (entry,))

    def without(self, patch_id: str) -> Record:
        return replace(self, entries=tuple(e for e in self.entries if e.patch_id != patch_id))

    def settled(self, path: str, old: str, new: str) -> Record:
        """This record once vllm-patches turned the bytes of ``path`` from ``old`` into
        ``new``: each entry that left the file as ``old`` now names ``new`` (an entry's
        ``after`` is the file as vllm-patches left it, whichever patch wrote it last)."""
        return replace(self, entries=tuple(
            replace(e, files={**e.files, path: replace(e.files[path], after=new)})
            if path in e.files and e.files[path].after == old else e
            for e in self.entries))

    def original(self, path: str) -> str | None:
        """sha256 of ``path`` before the first recorded patch changed it."""
        return next((e.files[path].before for e in self.entries if path in e.files), None)

    def later_than(self, patch_id: str, path: str) -> Entry | None:
        """An entry applied after ``patch_id`` that changed ``path`` too."""
        ids = [e.patch_id for e in self.entries]
        if patch_id not in ids:
            return None
        return next(
            (e for e in self.entries[ids.index(patch_id) + 1 :] if path in e.files), None
        )

    def to_bytes(self) -> bytes:
        data = {"format": FORMAT, "applied": [e.to_dict() for e in self.entries]}
        return (json.dumps(data, indent=2) + "\n").encode("utf-8")


def load(root: Path) -> Record:
    """The record of ``root``; an empty one when there is none.

    The record must be a plain file inside the tree, and every file it names
    must resolve inside the tree's ``vllm/``.
    """
    path = record_path(root)
    try:
        raw = read_regular(resolve(root, f"{STATE_DIR}/{RECORD_NAME}"))
    except FileNotFoundError:
        return Record()
    except UnsafePath as exc:
        raise RecordError(messages.record_corrupt(path, exc.problem)) from None
    except OSError as exc:
        raise RecordError(messages.record_unreadable(path, exc)) from None
    record = parse(raw, path)
    for entry in record.entries:
        for rel in entry.files:
            try:
                resolve(root, rel, frozenset({Area.VLLM}))
            except UnsafePath as exc:
                raise RecordError(messages.record_corrupt(path, exc.problem)) from None
    return record


def parse(raw: bytes, path: Path) -> Record:
    """The record in ``raw`` (the bytes of ``path``), checked; ``RecordError`` when it is bad."""
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a format-{FORMAT} record")
        applied = data.get("applied")
        if not isinstance(applied, list):
            raise ValueError("'applied' is not a list")
        entries = tuple(Entry.from_dict(e) for e in applied)
    except RecursionError:
        raise RecordError(messages.record_corrupt(path, "nested too deeply")) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(messages.record_corrupt(path, exc)) from None
    if len({e.patch_id for e in entries}) != len(entries):
        raise RecordError(messages.record_corrupt(path, "a patch is listed twice"))
    return _chained(entries)


def _chained(entries: tuple[Entry, ...]) -> Record:
    """The record with each ``after`` naming the file's last recorded bytes.

    vllm-patches 0.1.0 recorded, for two patches of one file, the bytes the first patch
    left (which the second changed): ``status`` read that as an edit. Where an entry's
    ``after`` is the next entry's ``before`` of the same file, the file went on through
    vllm-patches, and the entry takes the ``after`` at the end of that chain.
    """
    record = Record(entries)
    following: dict[str, FileRecord] = {}  # per file: the next entry's shas, chain settled
    for entry in reversed(entries):
        for rel, f in entry.files.items():
            nxt = following.get(rel)
            if nxt is not None and f.after == nxt.before:
                record = record.settled(rel, f.after, nxt.after)
                f = replace(f, after=nxt.after)
            following[rel] = f
    return record
