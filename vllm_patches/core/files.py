"""The one atomic write and the one lock.

``write_atomic`` replaces a file with new bytes so that a reader (or a crash) sees the
old file or the new one, never a mix: a temporary beside it (created exclusively, never
through a symlink), written and fsynced, given its mode, renamed over the file, and the
folder fsynced. ``FileLock`` is an exclusive ``flock`` on a lock file that is a plain file
(a symlink is refused), taken again when another process removed the file while we
waited. ``flock_exclusive`` locks an open file for the appends of the report.
``read_untrusted`` reads a file vllm-patches does not own; ``json_object`` checks that its
bytes are one JSON object.

This module imports only ``os``, ``errno``, ``stat`` and ``ownership`` (``fcntl`` when a
lock is taken, ``json`` when bytes are parsed); the catalogue's cheap scan reads through it
when vLLM is imported.
"""

from __future__ import annotations

import errno
import os
import stat

from vllm_patches.core.ownership import not_ours

CACHE_ENV = "VLLM_PATCHES_CACHE"


def cache_root():
    """The user cache: ``$VLLM_PATCHES_CACHE``, else ``$XDG_CACHE_HOME/vllm-patches``, else
    ``~/.cache/vllm-patches`` (released wheels' trees, the release list, shapes)."""
    from pathlib import Path

    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vllm-patches"


class NotPlainFile(OSError):
    """A lock file, the file to replace or a file to read is a symlink or not a regular file."""


class TooLarge(OSError):
    """A file to read is larger than its reader's bound."""


class NotOurs(OSError):
    """A file read as evidence that someone other than this user (or root) could have
    written: owned by another user, writable by others, or in a folder where others
    can replace it."""


DEFAULT_LIMIT = 64 << 20  # no file vllm-patches reads is near this; /dev/zero-like input stops here


def read_untrusted(path, *, limit: int = DEFAULT_LIMIT, evidence: bool = False) -> bytes:
    """The bytes of a file vllm-patches does not own: the one reader for them.

    Reports, catalogue files, state files, records and journals are read here: a plain
    file only, opened without following a final symlink (``NotPlainFile``) and without
    blocking (a FIFO is refused before a byte is read), at most ``limit`` bytes
    (``TooLarge``). With ``evidence`` (a file that proves something, such as the report)
    the file must also be one that only this user or root could have written
    (``NotOurs``). ``FileNotFoundError`` and other ``OSError``s pass through;
    ``untrusted_problem`` turns any of them into the words of a sentence.
    """
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise NotPlainFile(errno.ELOOP, "not a plain file (a symlink)", path) from None
        if exc.errno == errno.ENXIO:  # a socket
            raise NotPlainFile(errno.ENXIO, "not a plain file (a socket)", path) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotPlainFile(errno.EINVAL, f"not a plain file ({_kind(st.st_mode)})", path)
        if evidence and (why := not_ours(path, st)):
            raise NotOurs(errno.EPERM, why, path)
        if st.st_size > limit:
            raise TooLarge(errno.EFBIG, f"larger than {_size(limit)}", path)
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew while we read
            raise TooLarge(errno.EFBIG, f"larger than {_size(limit)}", path)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _size(limit: int) -> str:
    """A bound in words: '64 MiB', '256 KiB', '100 bytes'."""
    for shift, unit in ((20, "MiB"), (10, "KiB")):
        if limit >= 1 << shift and not limit % (1 << shift):
            return f"{limit >> shift} {unit}"
    return f"{limit} bytes"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def untrusted_problem(exc: OSError) -> str:
    """What is wrong with a file ``read_untrusted`` refused, as words to put in a sentence:
    'is not a plain file (a FIFO)', 'is larger than 64 MiB', 'cannot be read (...)'."""
    if isinstance(exc, FileNotFoundError):
        return "does not exist"
    if isinstance(exc, (NotPlainFile, TooLarge, NotOurs)):
        return f"is {exc.strerror}"
    return f"cannot be read ({exc.strerror or exc})"


TEMP_END = ".tmp"
_HEX = frozenset("0123456789abcdef")


def is_atomic_temp(name: str, of: str) -> bool:
    """True when ``name`` is a temporary that ``write_atomic`` makes for a file named ``of``
    (``.<of>.<pid>.<hex>.tmp``): what a kill inside it leaves beside the file."""
    prefix = f".{of}."
    if not (name.startswith(prefix) and name.endswith(TEMP_END)):
        return False
    pid, _, tag = name[len(prefix):-len(TEMP_END)].partition(".")
    return pid.isascii() and pid.isdigit() and bool(tag) and set(tag) <= _HEX


class NotJsonObject(ValueError):
    """Bytes read from a file vllm-patches does not own are not one JSON object."""


def json_object(raw: bytes) -> dict:
    """The JSON object in ``raw`` (the bytes of a state file or journal, read with
    ``read_untrusted``); ``NotJsonObject`` whose message is the words of a sentence
    ('nested too deeply', 'unreadable JSON: ...', 'not a JSON object') otherwise."""
    import json

    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise NotJsonObject("nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotJsonObject(f"unreadable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise NotJsonObject("not a JSON object")
    return data


def write_atomic(path, data: bytes | str, *, mode: int | None = None,
                 encoding: str = "utf-8", owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    ``mode`` defaults to the mode of the file being replaced (0o644 for a new one),
    whatever the umask. ``owner`` (uid, gid): the new file's, set before it replaces the
    old one (root writing another user's files). A symlink at ``path`` is replaced,
    never followed.
    """
    path = os.fspath(path)
    if isinstance(data, str):
        data = data.encode(encoding)
    folder = os.path.dirname(os.path.abspath(path))
    if mode is None:
        try:
            st = os.lstat(path)
            mode = stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else 0o644
        except FileNotFoundError:
            mode = 0o644
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{id(data):x}{TEMP_END}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if owner is not None:
                os.fchown(fd, *owner)  # before fchmod: a chown clears set-id bits
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(folder)


def fsync_dir(folder) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(os.fspath(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def flock_exclusive(fd: int) -> None:
    """Block until this process holds the exclusive ``flock`` of open file ``fd`` (closing
    ``fd`` releases it). Nothing where ``fcntl`` does not exist."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


class FileLock:
    """``with FileLock(path):`` holds the exclusive lock of the plain file ``path``.

    The lock file's folder is made when missing. When another process removed the lock
    file (and maybe its folder) while we waited, the new one is locked instead, so two
    holders never overlap. ``cleanup`` is called with the lock still held, just before it
    is released (the source-mode lock removes its state folder there when it is empty).
    """

    def __init__(self, path, *, cleanup=None) -> None:
        self.path = os.fspath(path)
        self.cleanup = cleanup
        self.fd: int | None = None

    def __enter__(self) -> FileLock:
        folder = os.path.dirname(os.path.abspath(self.path))
        while True:
            os.makedirs(folder, exist_ok=True)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except FileNotFoundError:  # another process removed the folder just now
                continue
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise NotPlainFile(errno.ELOOP, "a symlink", self.path) from None
                raise
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise NotPlainFile(errno.EINVAL, "not a regular file", self.path)
            flock_exclusive(fd)
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return self
            os.close(fd)  # the lock file was removed while we waited: lock the new one

    def __exit__(self, *exc) -> None:
        try:
            if self.cleanup is not None:
                self.cleanup()
        finally:
            fd, self.fd = self.fd, None
            if fd is not None:
                os.close(fd)
