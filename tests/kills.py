"""A kill -9 at every point of a write: before each call that changes the disk.

``killed_at(k, action)`` runs ``action`` in a forked child whose ``os`` calls that change
a file or folder (an ``open`` that may create or write, ``write``, ``fchmod``, ``fchown``,
``chown``, ``fsync``, ``replace``, ``rename``, ``unlink``, ``rmdir``, ``mkdir``) are
counted; the ``k``-th one never runs: the child ends there with ``os._exit(KILLED)``, as a
kill -9 would end it (no ``finally``, no cleanup). ``every_kill(action, fresh)`` yields
``k = 1, 2, ...`` until the action runs to its end without reaching ``k``: each point once.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterator

KILLED = 137
_CHANGING = ("write", "fchmod", "fchown", "chown", "fsync", "replace", "rename", "unlink",
             "rmdir", "mkdir")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC


def _counting(k: int) -> None:
    count = 0

    def wrap(name: str, real: Callable) -> Callable:
        def call(*args, **kwargs):
            nonlocal count
            if name != "open" or (len(args) > 1 and args[1] & _WRITE_FLAGS):
                count += 1
                if count == k:
                    os._exit(KILLED)
            return real(*args, **kwargs)
        return call

    for name in (*_CHANGING, "open"):
        setattr(os, name, wrap(name, getattr(os, name)))


def killed_at(k: int, action: Callable[[], object]) -> int:
    """The exit code of ``action`` run in a child killed before its ``k``-th change:
    ``KILLED``, or 0 when it ended first (1 when it raised)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            _counting(k)
            action()
            code = 0
        except BaseException:  # noqa: BLE001 - reported, then the child ends
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def every_kill(action: Callable[[], object], fresh: Callable[[], object],
               most: int = 500) -> Iterator[int]:
    """``k`` for each point where a kill stops ``action``, run each time on what ``fresh()``
    made anew; the caller looks at what the kill left before the next one."""
    for k in range(1, most + 1):
        fresh()
        code = killed_at(k, action)
        if code == 0:
            return
        assert code == KILLED, f"the action failed (exit {code}) with a kill at change {k}"
        yield k
    raise AssertionError(f"the action made more than {most} changes")
