"""Writing the ``VLLM_PATCHES_REPORT`` file: one JSON line per event, appended safely.

Every process that loads the plugin (or the ``.pth`` hook) writes one *armed*
line from ``plugin.register()``; ``report.record`` then writes one *patch*
line per patch once the target module is imported. ``register()`` runs at
the start of every interpreter where the ``.pth`` hook is installed, so this
module imports only built-in modules and the small ``core.ownership`` (``os`` and
``stat``): no ``json`` (it pulls in ``re``, about 13 ms), no ``logging`` (but for
its one warning), no ``datetime``. JSON strings are escaped by ``_json``'s C
encoder, the one ``json.dumps`` uses.

Every line names its run (``VLLM_PATCHES_RUN``): the first process that writes one
without a run in its environment makes a new id and puts it there, so that every
process it starts (engine core, workers; vLLM copies ``VLLM_*`` variables to Ray
workers) writes under the same run, and ``vllm-patches report FILE --check --run ID`` asks
about that run alone, never about yesterday's lines in the same file.

The lines of one call go out in a single ``write`` on a file opened with
``O_APPEND`` under an exclusive ``flock`` (waited for ``LOCK_WAIT`` seconds at most),
so that the API server, the engine core and every worker can share one file. The
report is opened without following a symlink and without blocking, and written only
when it is a plain file that only this user (or root) could have written
(``core.ownership``, the reader's rule); otherwise nothing is written and the process
warns once. Writing never raises and never blocks the vLLM process.
"""

import errno
import os
import stat
import sys
import time

from vllm_patches.core.ownership import file_not_ours, folder_not_ours

REPORT_ENV = "VLLM_PATCHES_REPORT"
RUN_ENV = "VLLM_PATCHES_RUN"
REPORT_MODE = 0o600  # a new report: only its owner (and root) reads or writes it
LOCK_WAIT = 2.0  # seconds; past this, one unlocked O_APPEND write (never a hang)
_OPEN_FLAGS = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
               | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
_WARNED: list[str] = []  # the one warning of this process, once written
ARMED = "armed"  # the event and outcome of the line register() writes
PATCH = "patch"  # the event of a line about one patch
ALL = "all"  # the patches armed when VLLM_PATCHES selects every one

try:
    from _json import encode_basestring_ascii as _quote
except ImportError:  # pragma: no cover - an interpreter without the C accelerator
    from json.encoder import py_encode_basestring_ascii as _quote


def report_path() -> str:
    """The report file named by ``VLLM_PATCHES_REPORT``, or '' when none is."""
    return os.environ.get(REPORT_ENV, "").strip()


def run_id() -> str:
    """This run's id: ``VLLM_PATCHES_RUN``, else a new one, put into the environment for the
    processes this one starts."""
    run = os.environ.get(RUN_ENV, "").strip()
    if not run:
        run = os.environ[RUN_ENV] = new_run_id()
    return run


def new_run_id() -> str:
    """Short and unique: UTC time to the second, pid, 32 random bits
    (``20260101T120000Z-4242-9f3a1c2b``)."""
    return "%s-%d-%s" % (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), os.getpid(),
                         os.urandom(4).hex())


def armed_line(via: str, selection) -> bytes:
    """The line ``register()`` writes: ``selection`` is None (every patch) or the ids."""
    patches = ALL if selection is None else list(selection)
    return line({**_process(), "via": via, "event": ARMED, "outcome": ARMED, "patches": patches})


def patch_lines(outcomes, vllm_version: str, armed_by=()) -> bytes:
    """One line per runtime outcome (anything with ``id``, ``outcome``, ``mode``, ``message``)."""
    common = {**_process(), "vllm": vllm_version, "via": ",".join(armed_by), "event": PATCH}
    return b"".join(
        line({**common, "patch": o.id, "outcome": o.outcome, "mode": o.mode,
              "message": o.message})
        for o in outcomes
    )


def line(fields: dict) -> bytes:
    """``fields`` as one JSON line (strings, ints, None and lists of those only)."""
    return ("{" + ", ".join(f"{_quote(k)}: {_value(v)}" for k, v in fields.items()) + "}\n"
            ).encode("ascii")


def _value(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return _quote(str(value))


def _process() -> dict:
    return {"time": _now(), "run": run_id(), "pid": os.getpid(), "ppid": os.getppid(), "process": process_title()}


def _now() -> str:
    """UTC time to the millisecond, as ``datetime.isoformat`` writes it."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%03d+00:00" % (
        int(now * 1000) % 1000)


def process_title() -> str:
    """The title vLLM gave this process (``VLLM::EngineCore``...), else its command line."""
    title = ""
    setproctitle = sys.modules.get("setproctitle")
    if setproctitle is not None:
        try:
            title = str(setproctitle.getproctitle())
        except Exception:
            title = ""
    if not title:
        try:
            with open("/proc/self/cmdline", "rb") as fh:
                title = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            title = " ".join([sys.executable, *sys.argv])
    return " ".join(title.split())


class Refused(OSError):
    """The report path holds something this process must not write into."""


def append(path: str, data: bytes) -> None:
    """Append ``data`` to the report ``path`` in one go, safe against other processes doing
    the same; ``Refused`` (nothing written) for a symlink, a FIFO, a device, or a file that
    another user owns or can write, or in a folder where other users can replace it."""
    why = folder_not_ours(path)  # before the file is made: nothing is left behind there
    if why:
        raise Refused(errno.EPERM, why, path)
    try:
        fd = os.open(path, _OPEN_FLAGS, REPORT_MODE)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise Refused(exc.errno, "a symlink", path) from None
        if exc.errno == errno.ENXIO:
            raise Refused(exc.errno, "a FIFO or a socket", path) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused(errno.EINVAL, "not a plain file", path)
        why = file_not_ours(st)
        if why:
            raise Refused(errno.EPERM, why, path)
        _lock(fd)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)  # also releases the lock


def _lock(fd: int) -> None:
    """Take the exclusive ``flock`` of ``fd``, waiting ``LOCK_WAIT`` seconds at most: anyone
    who can open the file can hold its lock, and that must not stop a vLLM process."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX; O_APPEND alone
        return
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.002)
        except OSError:  # a file system without flock: O_APPEND alone
            return


def write(data: bytes) -> None:
    """Append ``data`` to the report file; one warning per process, never an exception,
    when that fails or is refused."""
    path = report_path()
    if not path or not data:
        return
    try:
        append(path, data)
    except Exception as exc:
        _warn_once(path, exc)


def _warn_once(path: str, exc: Exception) -> None:
    if _WARNED:
        return
    try:
        import logging

        from vllm_patches.runtime.messages import report_write_failed

        _WARNED.append(report_write_failed(path, exc, refused=isinstance(exc, Refused)))
        logging.getLogger("vllm_patches").warning("%s", _WARNED[0])
    except Exception:
        pass
