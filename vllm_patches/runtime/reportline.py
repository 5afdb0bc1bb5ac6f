"""Writing the ``VLLM_PATCHES_REPORT`` file: one JSON line per event, appended safely.

Every process that loads the plugin (or the ``.pth`` hook) writes one *armed*
line from ``plugin.register()``; ``report.record`` then writes one *patch*
line per patch once the target module is imported. ``register()`` runs at
the start of every interpreter where the ``.pth`` hook is installed, so this
module imports only built-in modules: no ``json`` (it pulls in ``re``, about
13 ms), no ``logging``, no ``datetime``. JSON strings are escaped by
``_json``'s C encoder, the one ``json.dumps`` uses.

The lines of one call go out in a single ``write`` on a file opened with
``O_APPEND`` under an exclusive ``flock``, so that the API server, the engine
core and every worker can share one file.
"""

import os
import sys
import time

REPORT_ENV = "VLLM_PATCHES_REPORT"
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
    return {"time": _now(), "pid": os.getpid(), "ppid": os.getppid(), "process": process_title()}


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


def append(path: str, data: bytes) -> None:
    """Append ``data`` to ``path`` in one go, safe against other processes doing the same."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        try:  # core.files.flock_exclusive, inlined: the plugin imports nothing more here
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX; O_APPEND alone
            fcntl = None
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)  # also releases the lock


def write(data: bytes) -> None:
    """Append ``data`` to the report file; a warning, never an exception, when that fails."""
    path = report_path()
    if not path or not data:
        return
    try:
        append(path, data)
    except OSError as exc:
        import logging

        from vllm_patches.runtime.messages import report_write_failed

        logging.getLogger("vllm_patches").warning("%s", report_write_failed(path, exc))
