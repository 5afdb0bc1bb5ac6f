"""Job processes forked from a server that has imported torch once.

About half of a check process's start is importing torch and the other packages every vLLM
release imports the same way (transformers, numpy, ...): 5 s of CPU of the 10 s a check
process takes to import vLLM on a laptop core. ``catalog check`` and ``verify`` start
many such processes, one per arm and release; on a CI runner of two cores that time adds
up. A job marked ``preload`` (``jobs.Job``) is therefore started from a fork server
(``multiprocessing``'s ``forkserver``, started once per caller with ``PRELOAD`` imported):
the child is a process of its own as before (its own session, its own stdout and stderr,
its exit status, killed with its session on a timeout), with the job's environment and its
``PYTHONPATH`` first on ``sys.path``, and it imports vLLM from the tree it is given. Nothing
of vLLM is imported in the server, and nothing that vLLM configures through the environment
before importing it (``torch._inductor``: vLLM sets its compile threads first).

CUDA jobs are never preloaded: a GPU arm starts as a fresh interpreter. ``VLLM_PATCHES_PRELOAD=0``
starts every job as a fresh interpreter; so does a platform without ``forkserver``.
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import sys
from typing import IO

ENV = "VLLM_PATCHES_PRELOAD"
# Imported the same way whatever the vLLM release, and read no setting vLLM makes first.
PRELOAD = ("torch", "transformers", "numpy", "sympy", "openai", "aiohttp")

_context = None


def enabled() -> bool:
    off = os.environ.get(ENV, "").strip().lower() in ("0", "false", "no", "off")
    return not off and "forkserver" in multiprocessing.get_all_start_methods()


def module_argv(argv: list[str]) -> tuple[str, list[str]] | None:
    """(module, arguments) of ``[sys.executable, "-m", module, *arguments]``, else None."""
    if len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m":
        return argv[2], list(argv[3:])
    return None


class Started:
    """A job process started from the server: what ``jobs.run_all`` uses of a Popen."""

    def __init__(self, process, stdout: IO[str], stderr: IO[str]) -> None:
        self._process = process
        self.pid = process.pid
        self.stdout, self.stderr = stdout, stderr
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._process.exitcode
        return self.returncode

    def wait(self) -> int:
        self._process.join()
        return self.poll()


def start(argv: list[str], env: dict[str, str]) -> Started | None:
    """Start ``python -m module args`` from the server; None where ``argv`` is not that."""
    parsed = module_argv(argv)
    if parsed is None:
        return None
    module, args = parsed
    context = _server()
    out_r, out_w = context.Pipe(duplex=False)
    err_r, err_w = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(module, args, dict(env), out_w, err_w),
                              name=f"vllm-patches {module}")
    try:
        process.start()
    finally:
        out_w.close()
        err_w.close()
    return Started(process, _reader(out_r), _reader(err_r))


def _server():
    global _context
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(PRELOAD))
        _context = context
    return _context


def _reader(connection) -> IO[str]:
    fd = os.dup(connection.fileno())
    connection.close()
    return open(fd, "r", encoding="utf-8", errors="replace")


def _child(module: str, args: list[str], env: dict[str, str], out, err) -> None:
    """In the forked child: a session, stdout and stderr, environment and path of its own,
    then the module run as ``__main__`` (its ``sys.exit`` is the exit status)."""
    os.setsid()
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    out.close()
    err.close()
    os.environ.clear()
    os.environ.update(env)
    first = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = first + [p for p in sys.path if p not in first]
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
