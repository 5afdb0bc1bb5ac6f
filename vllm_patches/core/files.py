"""The one atomic write and the one lock.

``write_atomic`` replaces a file with new bytes so that a reader (or a crash) sees the
old file or the new one, never a mix: a temporary beside it (created exclusively, never
through a symlink), written and fsynced, given its mode, renamed over the file, and the
folder fsynced. ``FileLock`` is an exclusive ``flock`` on a lock file that is a plain file
(a symlink is refused), taken again when another process removed the file while we
waited. ``flock_exclusive`` locks an open file for the appends of the report.

This module imports only ``os``, ``errno`` and ``stat`` (``fcntl`` when a lock is taken):
the plugin's report line uses it at every vLLM process start.
"""

from __future__ import annotations

import errno
import os
import stat


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
    """A lock file (or the file to replace) is a symlink or not a regular file."""


def write_atomic(path, data: bytes | str, *, mode: int | None = None,
                 encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    ``mode`` defaults to the mode of the file being replaced (0o644 for a new one),
    whatever the umask. A symlink at ``path`` is replaced, never followed.
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
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{id(data):x}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
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

    def __enter__(self) -> "FileLock":
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
