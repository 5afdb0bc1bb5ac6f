"""Write a set of files all together or not at all, safe against a kill at any step.

``commit(state, changes)`` writes the new bytes of several files of one tree
so that a process killed at any moment leaves a tree that the next
``recover(state)`` brings to one of the two whole states, never a mix:

1. the journal ``<state>/journal.json``, state ``prepared``, names every file,
   its temporary and the sha256 of its bytes before and after;
2. each new content goes to a temporary in the file's own folder, with the
   file's mode (and owner, where we may set it), and is fsynced;
3. the journal turns ``committed`` (atomic replace, fsync): the commit point;
4. each temporary replaces its file (``os.replace``), then the folders are fsynced;
5. the stale ``__pycache__`` entries of changed modules are removed;
6. the journal is removed.

``recover`` rolls a ``prepared`` journal back (temporaries deleted, files
untouched) and completes a ``committed`` one. ``locked(state)`` holds an
exclusive ``fcntl`` lock on ``<state>/lock``; callers hold it across
recovery, reading the files and committing, so that two processes cannot
interleave.

Testing hook: ``VLLM_PATCHES_FAULT=<step>`` makes the process ``os._exit``
with ``FAULT_EXIT`` right after that step (``steps(n)`` lists them:
``prepared``, ``staged:<i>``, ``committed``, ``replaced:<i>``, ``cleaned``),
so that tests can kill a write at every step. Never set it otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from . import messages
from .record import sha256_file, sha256_of
from .errors import VllmPatchesError

FAULT_ENV = "VLLM_PATCHES_FAULT"
FAULT_EXIT = 86
JOURNAL = "journal.json"
LOCK = "lock"
PREPARED = "prepared"
COMMITTED = "committed"


class TransactionError(VllmPatchesError):
    """The files could not be written, or an interrupted write cannot be finished."""


@dataclass(frozen=True)
class Change:
    """New bytes for one file (``data`` None: remove the file)."""

    path: Path
    data: bytes | None
    mode: int | None = None  # for a new file; an existing file keeps its own


def steps(count: int) -> list[str]:
    """The fault-injection points of a commit of ``count`` files, in order."""
    return ([PREPARED] + [f"staged:{i}" for i in range(count)] + [COMMITTED]
            + [f"replaced:{i}" for i in range(count)] + ["cleaned"])


def _fault(step: str) -> None:
    if os.environ.get(FAULT_ENV) == step:
        os._exit(FAULT_EXIT)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes, mode: int) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fchmod(fh.fileno(), mode)  # exactly the file's own mode, whatever the umask
        os.fsync(fh.fileno())


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    _write_synced(tmp, json.dumps(data, indent=2).encode("utf-8"), 0o644)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


# The lock ------------------------------------------------------------------
@contextlib.contextmanager
def locked(state: Path) -> Iterator[None]:
    """Hold the tree's exclusive lock; the state folder goes when nothing but the lock is left."""
    import fcntl

    lock_path = state / LOCK
    while True:
        state.mkdir(exist_ok=True)
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # another process removed the folder just now
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the lock file was removed while we waited: lock the new one
    try:
        yield
    finally:
        try:
            if {p.name for p in state.iterdir()} == {LOCK}:
                os.unlink(lock_path)
                os.rmdir(state)
        except OSError:
            pass
        finally:
            os.close(fd)


# Commit ------------------------------------------------------------------
def _temp_of(path: Path, txid: str) -> Path:
    return path.with_name(f".{path.name}.vllm-patches-{txid}.tmp")


def commit(state: Path, changes: list[Change]) -> None:
    """Write every change, all or none. Hold ``locked(state)`` around it."""
    if not changes:
        return
    txid = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    root = state.parent
    files = []
    for change in changes:
        before = sha256_file(change.path)
        try:
            mode = stat.S_IMODE(os.stat(change.path).st_mode)
        except FileNotFoundError:
            mode = change.mode if change.mode is not None else 0o644
        files.append({
            "path": os.path.relpath(change.path, root),
            "temp": os.path.relpath(_temp_of(change.path, txid), root)
            if change.data is not None else None,
            "before": before,
            "after": sha256_of(change.data) if change.data is not None else None,
            "mode": mode,
        })
    journal = {"id": txid, "state": PREPARED, "files": files}
    state.mkdir(exist_ok=True)
    try:
        _write_json(state / JOURNAL, journal)
        _fault(PREPARED)
        for i, (change, entry) in enumerate(zip(changes, files)):
            if change.data is not None:
                _write_synced(root / entry["temp"], change.data, entry["mode"])
                _keep_owner(change.path, root / entry["temp"])
            _fault(f"staged:{i}")
        journal["state"] = COMMITTED
        _write_json(state / JOURNAL, journal)
    except OSError as exc:
        _roll_back(state, journal)
        raise TransactionError(messages.write_failed(exc)) from None
    _fault(COMMITTED)
    try:
        _complete(state, journal, fault=True)
    except OSError as exc:
        raise TransactionError(messages.write_interrupted(state.parent, exc)) from None


def _keep_owner(original: Path, temp: Path) -> None:
    try:
        st = os.stat(original)
    except FileNotFoundError:
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
        os.chown(temp, st.st_uid, st.st_gid)


def _complete(state: Path, journal: dict, fault: bool = False) -> None:
    root = state.parent
    folders = set()
    for i, entry in enumerate(journal["files"]):
        path = root / entry["path"]
        temp = root / entry["temp"] if entry["temp"] else None
        if temp is not None and temp.exists():
            os.replace(temp, path)
        elif temp is None and path.exists():
            os.unlink(path)
        elif sha256_file(path) != entry["after"]:
            raise TransactionError(messages.journal_cannot_complete(path))
        folders.add(path.parent)
        if fault:
            _fault(f"replaced:{i}")
    for folder in folders:
        _fsync_dir(folder)
    for entry in journal["files"]:
        remove_stale_bytecode(root / entry["path"])
    if fault:
        _fault("cleaned")
    os.unlink(state / JOURNAL)
    _fsync_dir(state)


def _roll_back(state: Path, journal: dict) -> None:
    for entry in journal["files"]:
        if entry["temp"]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(state.parent / entry["temp"])
    with contextlib.suppress(FileNotFoundError):
        os.unlink(state / JOURNAL)


def remove_stale_bytecode(path: Path) -> None:
    """Remove ``__pycache__/<name>.*.pyc`` of a changed module.

    Python would notice most by mtime and size, but not all: hash-based
    (unchecked) ones never go stale on their own.
    """
    if path.suffix != ".py":
        return
    cache = path.parent / "__pycache__"
    for pyc in cache.glob(f"{path.stem}.*.pyc"):
        if pyc.name.split(".")[0] == path.stem:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(pyc)


# Recovery ------------------------------------------------------------------
def _sane(entry: object) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        return False
    paths = [entry["path"]] + ([entry["temp"]] if entry.get("temp") else [])
    return all(isinstance(p, str) and not os.path.isabs(p) and ".." not in Path(p).parts
               for p in paths) and "after" in entry


def pending(state: Path) -> bool:
    """True when an interrupted write waits for ``recover``."""
    return (state / JOURNAL).exists()


def recover(state: Path) -> str | None:
    """Finish an interrupted commit: "completed", "rolled-back", or None when there was none.

    Hold ``locked(state)`` around it.
    """
    with contextlib.suppress(FileNotFoundError):
        os.unlink(state / (JOURNAL + ".tmp"))
    path = state / JOURNAL
    try:
        journal = json.loads(path.read_bytes())
        ok = isinstance(journal, dict) and journal.get("state") in (PREPARED, COMMITTED) \
            and isinstance(journal.get("files"), list) \
            and all(_sane(entry) for entry in journal["files"])
    except FileNotFoundError:
        return None
    except ValueError:
        ok = False
    if not ok:
        raise TransactionError(messages.journal_corrupt(path))
    try:
        if journal["state"] == PREPARED:
            _roll_back(state, journal)
            return "rolled-back"
        _complete(state, journal)
    except OSError as exc:
        raise TransactionError(messages.write_interrupted(state.parent, exc)) from None
    return "completed"
