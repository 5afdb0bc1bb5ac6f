"""Standard output and error whose write errors say where they came from.

``guard()`` puts ``sys.stdout`` and ``sys.stderr`` over a raw writer of their file
descriptors that turns a failed write (a closed pipe: ``| head -0``, a full disk:
``> /dev/full``) into ``OutputError``, so that ``main()`` tells it apart from every other
``OSError`` and ends with one sentence, not a traceback. After its first failure a
stream drops what is written to it, so that the interpreter's last flush raises nothing.
"""

from __future__ import annotations

import errno
import io
import os
import sys


class OutputError(Exception):
    """Standard output or error could not be written. Not an ``OSError``: no handler of
    one (click's own, which turns a closed pipe into exit 1) takes it for another."""

    def __init__(self, exc: OSError, stream: str) -> None:
        super().__init__(exc.strerror or str(exc))
        self.errno, self.strerror, self.stream = exc.errno, exc.strerror, stream

    @property
    def broken_pipe(self) -> bool:
        return self.errno == errno.EPIPE


class _Writer(io.RawIOBase):
    """The raw writes of one standard stream; ``OutputError`` once, then silence."""

    def __init__(self, fd: int, name: str) -> None:
        super().__init__()
        self._fd, self.name, self.failed = fd, name, False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data) -> int:
        if self.failed:
            return len(data)
        try:
            return os.write(self._fd, data)
        except OSError as exc:
            self.failed = True
            raise OutputError(exc, self.name) from None

    def close(self) -> None:  # the descriptor stays the interpreter's
        self.closed or super().close()


def _guarded(stream, name: str):
    try:
        fd = stream.fileno()
        stream.flush()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
        return stream
    return io.TextIOWrapper(io.BufferedWriter(_Writer(fd, name)), encoding=stream.encoding,
                            errors=stream.errors, line_buffering=stream.line_buffering)


def guard() -> None:
    """Standard output and error, from now on, raise ``OutputError`` when a write fails."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None:
            setattr(sys, name, _guarded(stream, name))

