"""Write a set of files all together or not at all, safe against a kill at any step.

``commit(state, changes)`` writes the new bytes of several files of one tree
so that a process killed at any moment leaves a tree that the next
``recover(state)`` brings to one of the two whole states, never a mix:

1. the journal ``<state>/journal.json``, state ``prepared``, names every file,
   its temporary and the sha256 of its bytes before and after;
2. each new content goes to a temporary in the file's own folder, with the
   file's mode (and owner, where we may set it: root in another user's tree gives
   the state folder, its files and new files to the owner of ``vllm/``), and is
   fsynced;
3. the journal turns ``committed`` (atomic replace, fsync): the commit point;
4. each temporary replaces its file (``os.replace``), then the folders are fsynced;
5. the stale ``__pycache__`` entries of changed modules are removed;
6. the journal is removed.

``recover`` rolls a ``prepared`` journal back (temporaries deleted, files
untouched) and completes a ``committed`` one; then it removes every temporary a
kill could have left (``leftovers``: only names vllm-patches gives, only in the
state folder and in folders of the tree's ``vllm/``), so that the state folder
goes once it holds nothing but the lock. It trusts nothing in the
journal: before it changes anything it checks the whole journal (its id and
state, each path and temporary through ``pathguard``: inside the tree's
``vllm/`` or the record, never through a symlink out of the tree or into
``.git``; each temporary named as ``commit`` names it, beside its file; each
checksum and mode well formed) and, for a ``committed`` one, that each
temporary still holds the bytes the journal names and each file the bytes it
had. A journal that fails any check changes nothing, not even a temporary:
``recover`` raises ``TransactionError`` with one sentence. ``locked(state)`` holds an
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
import re
import stat
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path, PurePosixPath

from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.files import (
    FileLock,
    NotJsonObject,
    NotPlainFile,
    fsync_dir,
    is_atomic_temp,
    json_object,
    write_atomic,
)
from vllm_patches.core.pathguard import STATE_DIR, Area, UnsafePath, checked, read_regular, resolve
from vllm_patches.source import messages
from vllm_patches.source.record import RECORD_NAME, sha256_of

FAULT_ENV = "VLLM_PATCHES_FAULT"
FAULT_EXIT = 86
JOURNAL = "journal.json"
LOCK = "lock"
PREPARED = "prepared"
COMMITTED = "committed"
TXID = re.compile(r"[0-9]{1,10}-[0-9a-f]{8}")  # what commit() names a write: <pid>-<8 hex>
COMMIT_TEMP = re.compile(r"\..+\.vllm-patches-" + TXID.pattern + r"\.tmp")  # see _temp_of
LEGACY_JOURNAL_TEMP = JOURNAL + ".tmp"  # the journal's temporary in vllm-patches 0.1.0
SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_MODE = 0o7777


class TransactionError(VllmPatchesError):
    """The files could not be written, or an interrupted write cannot be finished."""


class JournalState(Enum):
    """How far a write had come: before or after its commit point."""

    PREPARED = PREPARED
    COMMITTED = COMMITTED


@dataclass(frozen=True)
class Change:
    """New bytes for one file (``data`` None: remove the file)."""

    path: Path
    data: bytes | None
    mode: int | None = None  # for a new file; an existing file keeps its own


@dataclass(frozen=True)
class _File:
    """One file of a journal, checked: ``path`` and ``temp`` resolved inside the tree."""

    rel: str
    temp_rel: str | None
    path: Path
    temp: Path | None
    before: str | None
    after: str | None
    mode: int

    def to_dict(self) -> dict[str, object]:
        return {"path": self.rel, "temp": self.temp_rel, "before": self.before,
                "after": self.after, "mode": self.mode}


@dataclass(frozen=True)
class _Journal:
    id: str
    state: JournalState
    files: tuple[_File, ...]

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "state": self.state.value,
                "files": [f.to_dict() for f in self.files]}


class _Untrusted(Exception):
    """A journal that fails a check; the message is the problem, quoted in one sentence."""


def journal_untrusted(path: Path, problem: object) -> str:
    return (f"The journal of an interrupted vllm-patches write, {path}, cannot be trusted "
            f"({problem}); nothing was changed: check the files it names, then remove it "
            "by hand.")


def lock_not_plain(path: Path) -> str:
    return (f"{path} is not a plain file (a symlink?); vllm-patches locks only a file of "
            "its own there: remove it, then run the command again.")


def steps(count: int) -> list[str]:
    """The fault-injection points of a commit of ``count`` files, in order."""
    return ([PREPARED] + [f"staged:{i}" for i in range(count)] + [COMMITTED]
            + [f"replaced:{i}" for i in range(count)] + ["cleaned"])


def _fault(step: str) -> None:
    if os.environ.get(FAULT_ENV) == step:
        os._exit(FAULT_EXIT)


def _write_new(path: Path, data: bytes, mode: int, owner: tuple[int, int] | None) -> None:
    """Create ``path`` (never through a symlink, never over a file) with ``data``, synced,
    owned by ``owner`` (None: ours)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with open(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        if owner is not None:
            os.fchown(fh.fileno(), *owner)  # before fchmod: a chown clears set-id bits
        os.fchmod(fh.fileno(), mode)  # exactly the file's own mode, whatever the umask
        os.fsync(fh.fileno())


def _write_json(path: Path, data: dict, owner: tuple[int, int] | None) -> None:
    write_atomic(path, json.dumps(data, indent=2), mode=0o644, owner=owner)


# Owners ----------------------------------------------------------------------
def _giving_away() -> bool:
    """True when this process may give files to another user (root)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _owner_of(path: Path) -> tuple[int, int] | None:
    """(uid, gid) of ``path`` when a file we create must get it (it is not ours, and we
    are root); None otherwise, or when ``path`` does not exist."""
    if not _giving_away():
        return None
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    owner = (st.st_uid, st.st_gid)
    return None if owner == (os.geteuid(), os.getegid()) else owner


def tree_owner(root: Path) -> tuple[int, int] | None:
    """The owner of what vllm-patches creates in the tree ``root`` (the state folder and
    its files, new files): the owner of its ``vllm/`` folder, when root works in another
    user's tree (so that the owner can revert later); None: leave them ours."""
    return _owner_of(root / "vllm")


def _give(path: Path, owner: tuple[int, int] | None) -> None:
    """``path`` (never followed when a symlink) owned by ``owner``, when it is not yet."""
    if owner is None:
        return
    st = os.lstat(path)
    if (st.st_uid, st.st_gid) != owner:
        os.chown(path, *owner, follow_symlinks=False)


def _owner_for(entry: _File, owner: tuple[int, int] | None) -> tuple[int, int] | None:
    """Who owns the new bytes of ``entry``: a file replaced keeps its own owner; the
    record, the journal and a new file get the tree's (``owner``)."""
    if entry.rel.startswith(STATE_DIR + "/") or not os.path.lexists(entry.path):
        return owner
    return _owner_of(entry.path)


def _check_state(state: Path) -> None:
    """The state folder must be the tree's own ``.vllm-patches`` (not a symlink out of it)."""
    try:
        resolve(state.parent, state.name, frozenset({Area.STATE}))
    except UnsafePath as exc:
        raise TransactionError(str(exc)) from None


def _sha_now(path: Path) -> str | None:
    """sha256 of a plain file (None when it does not exist)."""
    try:
        return sha256_of(read_regular(path))
    except FileNotFoundError:
        return None


# The lock ------------------------------------------------------------------
@contextlib.contextmanager
def locked(state: Path) -> Iterator[None]:
    """Hold the tree's exclusive lock; the state folder goes when nothing but the lock is left."""
    _check_state(state)
    lock_path = state / LOCK

    def tidy() -> None:
        try:
            if {p.name for p in state.iterdir()} == {LOCK}:
                os.unlink(lock_path)
                os.rmdir(state)
        except OSError:
            pass

    try:
        lock = FileLock(lock_path, cleanup=tidy)
        lock.__enter__()
    except NotPlainFile:
        raise TransactionError(lock_not_plain(lock_path)) from None
    try:
        owner = tree_owner(state.parent)
        if owner is not None:  # root in another user's tree: the owner must be able to lock
            _give(state, owner)
            assert lock.fd is not None  # __enter__ opened the lock file
            os.fchown(lock.fd, *owner)
        yield
    finally:
        lock.__exit__(None, None, None)


# The journal's entries ---------------------------------------------------------
def _temp_of(path: PurePosixPath | Path, txid: str) -> PurePosixPath | Path:
    return path.with_name(f".{path.name}.vllm-patches-{txid}.tmp")


def _relative(root: Path, path: Path) -> str:
    """``path`` relative to ``root`` (or to its real path), as the journal writes it."""
    for base in (root, Path(os.path.realpath(root))):
        with contextlib.suppress(ValueError):
            return path.relative_to(base).as_posix()
    return os.path.relpath(path, root)  # leads out of the tree: the guard refuses it


def _file_path(root: Path, rel: object) -> tuple[str, Path]:
    """A file a journal may name (one under ``vllm/``, or the record): ``rel`` checked (the
    same text), and where it resolves."""
    path = checked(rel)
    if path.parts[0] == STATE_DIR and path != PurePosixPath(STATE_DIR, RECORD_NAME):
        raise UnsafePath(f"{rel} is neither under vllm/ nor the record {STATE_DIR}/{RECORD_NAME}")
    if len(path.parts) < 2:
        raise UnsafePath(f"{rel} is a folder, not a file under it")
    # and it stays in that area; str(path) is rel (checked refuses any other spelling)
    return str(path), resolve(root, rel, frozenset({Area(path.parts[0])}))


def _temp_path(root: Path, rel: str, temp: object, txid: str) -> Path:
    """The temporary of ``rel``: named as ``commit`` names it, beside it, itself no symlink."""
    expected = str(_temp_of(PurePosixPath(rel), txid))
    if temp != expected:
        raise UnsafePath(f"the temporary of {rel} should be {expected}, not {temp!r:.80}")
    parent = PurePosixPath(rel).parent
    folder = resolve(root, str(parent), frozenset({Area(parent.parts[0])}))
    path = folder / PurePosixPath(expected).name
    if os.path.lexists(path) and not stat.S_ISREG(os.lstat(path).st_mode):
        raise UnsafePath(f"the temporary {expected} is not a plain file (a symlink?)")
    return path


def _sha_field(value: object, rel: str, key: str, nullable: bool) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not SHA256.fullmatch(value):
        raise UnsafePath(f"'{key}' of {rel} is not a sha256")
    return value


def _mode_field(value: object, rel: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_MODE:
        raise UnsafePath(f"'mode' of {rel} is not a file mode")
    return value


def _parse_file(root: Path, txid: str, raw: object) -> _File:
    """One entry of a journal, every field checked."""
    if not isinstance(raw, dict):
        raise UnsafePath("an entry of 'files' is not an object")
    rel, path = _file_path(root, raw.get("path"))
    temp_rel = raw.get("temp")
    temp = None if temp_rel is None else _temp_path(root, rel, temp_rel, txid)
    after = _sha_field(raw.get("after"), rel, "after", nullable=temp is None)
    if temp is None and after is not None:
        raise UnsafePath(f"{rel} has new bytes in 'after' but no temporary that holds them")
    return _File(rel, temp_rel, path, temp, _sha_field(raw.get("before"), rel, "before", True),
                 after, _mode_field(raw.get("mode"), rel))


def _parse_journal(root: Path, raw: bytes) -> _Journal:
    """The journal in ``raw``, every field checked (``_Untrusted`` otherwise); nothing changed."""
    try:
        data = json_object(raw)
    except NotJsonObject as exc:
        raise _Untrusted(str(exc)) from None
    txid = data.get("id")
    if not isinstance(txid, str) or not TXID.fullmatch(txid):
        raise _Untrusted(f"'id' is not the id of a vllm-patches write: {txid!r:.60}")
    try:
        state = JournalState(data.get("state"))
    except (ValueError, TypeError):
        raise _Untrusted(f"'state' is neither {PREPARED} nor {COMMITTED}") from None
    entries = data.get("files")
    if not isinstance(entries, list) or not entries:
        raise _Untrusted("'files' is not a list of files")
    try:
        files = tuple(_parse_file(root, txid, entry) for entry in entries)
    except UnsafePath as exc:
        raise _Untrusted(exc.problem) from None
    named = [f.path for f in files] + [f.temp for f in files if f.temp is not None]
    if len(set(named)) != len(named):
        raise _Untrusted("it names one file twice")
    return _Journal(txid, state, files)


# Commit ------------------------------------------------------------------
def commit(state: Path, changes: list[Change]) -> None:
    """Write every change, all or none. Hold ``locked(state)`` around it."""
    if not changes:
        return
    _check_state(state)
    txid = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    root = state.parent
    journal = _Journal(txid, JournalState.PREPARED,
                       tuple(_planned(root, txid, change) for change in changes))
    owner = tree_owner(root)  # of the state folder, its files, and new files
    state.mkdir(exist_ok=True)
    try:
        _give(state, owner)
        _write_json(state / JOURNAL, journal.to_dict(), owner)
        _fault(PREPARED)
        for i, (change, entry) in enumerate(zip(changes, journal.files, strict=True)):
            if change.data is not None:
                assert entry.temp is not None  # _planned names a temporary for new bytes
                _write_new(entry.temp, change.data, entry.mode, _owner_for(entry, owner))
            _fault(f"staged:{i}")
        journal = replace(journal, state=JournalState.COMMITTED)
        _write_json(state / JOURNAL, journal.to_dict(), owner)
    except OSError as exc:
        _roll_back(state, journal)
        raise TransactionError(messages.write_failed(exc)) from None
    _fault(COMMITTED)
    try:
        _complete(state, journal, fault=True)
    except OSError as exc:
        raise TransactionError(messages.write_interrupted(state.parent, exc)) from None


def _planned(root: Path, txid: str, change: Change) -> _File:
    """The journal's entry for ``change``, through the same checks ``recover`` makes."""
    rel = _relative(root, change.path)
    try:
        _, path = _file_path(root, rel)
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = change.mode if change.mode is not None else 0o644
        return _parse_file(root, txid, {
            "path": rel,
            "temp": str(_temp_of(PurePosixPath(rel), txid)) if change.data is not None else None,
            "before": _sha_now(path),
            "after": sha256_of(change.data) if change.data is not None else None,
            "mode": mode,
        })
    except UnsafePath as exc:
        raise TransactionError(str(exc)) from None


def _check_complete(journal: _Journal) -> None:
    """Refuse (``_Untrusted``) a committed journal whose files are not as it left them."""
    for f in journal.files:
        if f.temp is not None and os.path.lexists(f.temp):
            if _sha_now(f.temp) != f.after:
                raise _Untrusted(f"the temporary {f.temp_rel} does not hold the bytes the "
                                 f"journal names for {f.rel}")
            if _sha_now(f.path) != f.before:
                raise _Untrusted(f"{f.rel} changed since the write was interrupted")
        elif f.temp is None and _sha_now(f.path) not in (None, f.before):
            raise _Untrusted(f"{f.rel} changed since the write was interrupted")
        elif f.temp is not None and _sha_now(f.path) != f.after:
            raise TransactionError(messages.journal_cannot_complete(f.path))


def _complete(state: Path, journal: _Journal, fault: bool = False) -> None:
    root = state.parent
    folders = set()
    for i, f in enumerate(journal.files):
        if f.temp is not None and os.path.lexists(f.temp):
            os.replace(f.temp, f.path)
        elif f.temp is None and os.path.lexists(f.path):
            os.unlink(f.path)
        folders.add(f.path.parent)
        if fault:
            _fault(f"replaced:{i}")
    for folder in folders:
        fsync_dir(folder)
    for f in journal.files:
        remove_stale_bytecode(root, f.path)
    if fault:
        _fault("cleaned")
    os.unlink(state / JOURNAL)
    fsync_dir(state)


def _roll_back(state: Path, journal: _Journal) -> None:
    for f in journal.files:
        if f.temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f.temp)
    for folder in {f.path.parent for f in journal.files}:
        fsync_dir(folder)  # the temporaries gone for good before the journal that names them
    with contextlib.suppress(FileNotFoundError):
        os.unlink(state / JOURNAL)


def remove_stale_bytecode(root: Path, path: Path) -> None:
    """Remove ``__pycache__/<name>.*.pyc`` of a changed module of the tree ``root``.

    Python would notice most by mtime and size, but not all: hash-based
    (unchecked) ones never go stale on their own. A cache folder that leads
    out of the tree's ``vllm/`` (a symlink) is left alone.
    """
    if path.suffix != ".py":
        return
    try:
        cache = resolve(root, _relative(root, path.parent / "__pycache__"),
                        frozenset({Area.VLLM}))
    except UnsafePath:
        return
    for pyc in cache.glob(f"{path.stem}.*.pyc"):
        if pyc.name.split(".")[0] == path.stem:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(pyc)


# Recovery ------------------------------------------------------------------
def _problem(exc: Exception) -> object:
    """What is wrong with a journal, to quote in ``journal_untrusted``."""
    if isinstance(exc, UnsafePath):
        return exc.problem
    if isinstance(exc, OSError):
        return exc.strerror or exc
    return exc


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _in_vllm(root: Path, folder: Path) -> Path | None:
    """``folder`` resolved, when it is a folder of the tree's ``vllm/`` (else None)."""
    try:
        return resolve(root, _relative(root, folder), frozenset({Area.VLLM}))
    except UnsafePath:
        return None


def _plain_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def leftovers(state: Path, folders: Iterable[Path] = ()) -> list[Path]:
    """Every temporary a killed vllm-patches could have left in this tree: the journal's
    own (``write_atomic``'s, or 0.1.0's) and commit's in the state folder, commit's beside
    the files in each of ``folders`` (those inside the tree's ``vllm/``). Plain files whose
    names only vllm-patches gives, nothing else: a symlink or another name is left alone."""
    root = state.parent
    found = [state / name for name in _names(state)
             if COMMIT_TEMP.fullmatch(name) or is_atomic_temp(name, JOURNAL)
             or name == LEGACY_JOURNAL_TEMP]
    inside = {f for f in (_in_vllm(root, folder) for folder in folders) if f is not None}
    for folder in sorted(inside):
        found += [folder / name for name in _names(folder) if COMMIT_TEMP.fullmatch(name)]
    return [path for path in found if _plain_file(path)]


def _sweep(state: Path, folders: Iterable[Path]) -> None:
    """Remove ``leftovers``; hold ``locked(state)`` (no write of ours is under way)."""
    swept = leftovers(state, folders)
    for path in swept:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    for folder in {path.parent for path in swept}:
        fsync_dir(folder)


def strangers(state: Path) -> list[str]:
    """The names in the state folder that vllm-patches never writes there (someone else's:
    they keep the folder, and nothing of vllm-patches removes them)."""
    ours = {RECORD_NAME, LOCK, JOURNAL} | {path.name for path in leftovers(state)}
    return sorted(set(_names(state)) - ours)


def untidy(state: Path) -> bool:
    """True when the state folder holds more than the record (and the lock): a journal or
    a temporary that a kill left, or a folder without a record that should be gone.
    ``recover`` under ``locked`` tidies it."""
    names = set(_names(state))
    if not names and not os.path.isdir(state):
        return False
    return bool(names - {RECORD_NAME, LOCK}) or RECORD_NAME not in names


def pending(state: Path) -> bool:
    """True when an interrupted write waits for ``recover``."""
    return os.path.lexists(state / JOURNAL)


def recover(state: Path, folders: Iterable[Path] = ()) -> str | None:
    """Finish an interrupted commit: "completed", "rolled-back", or None when there was none.

    Then remove every temporary a kill left (``leftovers``: in the state folder, beside
    the files the journal names and in ``folders``). Hold ``locked(state)`` around it. A
    journal that fails a check raises ``TransactionError`` and changes nothing.
    """
    _check_state(state)
    path = state / JOURNAL
    try:
        raw = read_regular(path)
    except FileNotFoundError:
        _sweep(state, folders)
        return None
    except (UnsafePath, OSError) as exc:
        raise TransactionError(journal_untrusted(path, _problem(exc))) from None
    try:
        journal = _parse_journal(state.parent, raw)
        if journal.state is JournalState.COMMITTED:
            _check_complete(journal)
    except (_Untrusted, UnsafePath, OSError) as exc:
        raise TransactionError(journal_untrusted(path, _problem(exc))) from None
    try:
        if journal.state is JournalState.PREPARED:
            _roll_back(state, journal)
        else:
            _complete(state, journal)
        _sweep(state, [*folders, *(f.path.parent for f in journal.files)])
    except OSError as exc:
        raise TransactionError(messages.write_interrupted(state.parent, exc)) from None
    return "rolled-back" if journal.state is JournalState.PREPARED else "completed"
