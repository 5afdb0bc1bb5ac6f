"""Job processes forked from a server that has imported torch once.

About half of a check process's start is importing torch and the other packages every vLLM
release imports the same way (transformers, numpy, ...): 5 s of CPU of the 10 s a check
process takes to import vLLM on a laptop core. ``catalog check`` and ``verify`` start
many such processes, one per arm and release; on a CI runner of two cores that time adds
up. A job marked ``preload`` (``jobs.Job``) is therefore started from a fork server
(``multiprocessing``'s ``forkserver``, started once per caller with ``PRELOAD`` and the
parts of torch that ``vllm.env_override`` imports in it: ``preloaded.py``): the child is a
process of its own as before (its own session, its own stdout and stderr, its exit status,
killed with its session on a timeout), with the job's environment and its ``PYTHONPATH``
first on ``sys.path``, and it imports vLLM from the tree it is given. Nothing of vLLM is
imported in the server; the one setting vLLM makes before it imports ``torch._inductor``
(one compile thread), the server makes too.

CUDA jobs are never preloaded: a GPU arm starts as a fresh interpreter; so does a job whose
``PYTHONPATH`` holds its own torch (or another preloaded package: ``shadowed``), and one
whose environment differs from the server's in a setting those packages read when they are
imported (``READ_AT_IMPORT``). ``VLLM_PATCHES_PRELOAD=0`` starts every job as a fresh
interpreter; so does a platform without ``forkserver``.
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
# Environment variables the preloaded packages read when imported (torch, its inductor and
# OpenMP, Hugging Face): a job must see them as the server did, or start fresh.
READ_AT_IMPORT = ("TORCH", "PYTORCH", "OMP_", "MKL_", "KMP_", "CUDA_", "HF_", "TRANSFORMERS_",
                  "HUGGINGFACE_")

# What vLLM sets before torch._inductor reads it; the server sets it too (preloaded.py).
SET_BY_VLLM = {"TORCHINDUCTOR_COMPILE_THREADS": "1"}

_context = None
_server_env: dict[str, str] = {}


def enabled() -> bool:
    off = os.environ.get(ENV, "").strip().lower() in ("0", "false", "no", "off")
    return not off and "forkserver" in multiprocessing.get_all_start_methods()


def entry(argv: list[str]) -> tuple[str, str, list[str]] | None:
    """What ``argv`` runs: ``("module", name, args)`` for ``python -m name args``, ``("path",
    file, args)`` for ``python file.py args``; None for another interpreter or options."""
    if len(argv) < 2 or argv[0] != sys.executable:
        return None
    if argv[1] == "-m" and len(argv) >= 3:
        return "module", argv[2], list(argv[3:])
    if not argv[1].startswith("-") and argv[1].endswith(".py"):
        return "path", argv[1], list(argv[2:])
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


def shadowed(env: dict[str, str]) -> list[str]:
    """The preloaded packages that the job's ``PYTHONPATH`` holds copies of (a vLLM tree
    given as a whole site-packages with its own torch): such a job must import its own."""
    found = []
    for folder in (p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p):
        for name in PRELOAD:
            if os.path.exists(os.path.join(folder, name)) or \
                    os.path.exists(os.path.join(folder, f"{name}.py")):
                found.append(os.path.join(folder, name))
    return found


def read_at_import(env: dict[str, str]) -> dict[str, str]:
    """The settings of ``env`` that the preloaded packages read when imported (but those
    vLLM makes itself before they are read: ``SET_BY_VLLM``)."""
    return {k: v for k, v in env.items()
            if k.startswith(READ_AT_IMPORT) and k not in SET_BY_VLLM}


def start(argv: list[str], env: dict[str, str]) -> Started | None:
    """Start ``python -m module args`` or ``python file.py args`` from the server; None
    where ``argv`` is neither, where the job's path holds its own copy of a preloaded
    package, or where its environment differs from the server's in what they read."""
    what = entry(argv)
    if what is None or shadowed(env):
        return None
    context = _server()
    if read_at_import(env) != _server_env:
        return None
    out_r, out_w = context.Pipe(duplex=False)
    err_r, err_w = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(what, dict(env), out_w, err_w),
                              name=f"vllm-patches {what[1]}")
    try:
        process.start()
    finally:
        out_w.close()
        err_w.close()
    return Started(process, _reader(out_r), _reader(err_r))


def _server():
    """The fork server's context; it starts on the first job, from this process's
    environment (which ``_server_env`` keeps what the preloaded packages read of)."""
    global _context, _server_env
    if _context is None:
        from multiprocessing import forkserver

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["vllm_patches.verify.preloaded"])
        _server_env = read_at_import(dict(os.environ))
        forkserver.ensure_running()  # now, from the environment just read
        _context = context
    return _context


def _reader(connection) -> IO[str]:
    fd = os.dup(connection.fileno())
    connection.close()
    return open(fd, encoding="utf-8", errors="replace")


def _child(what: tuple[str, str, list[str]], env: dict[str, str], out, err) -> None:
    """In the forked child: a session, stdout and stderr, environment and path of its own,
    then the module or file run as ``__main__`` (its ``sys.exit`` is the exit status)."""
    kind, name, args = what
    os.setsid()
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    out.close()
    err.close()
    os.environ.clear()
    os.environ.update(env)
    first = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if kind == "path":  # as ``python file.py``: the file's folder first
        first.insert(0, os.path.dirname(os.path.abspath(name)))
    sys.path[:] = first + [p for p in sys.path if p not in first]
    sys.argv = [name, *args]
    if kind == "module":
        runpy.run_module(name, run_name="__main__", alter_sys=True)
    else:
        runpy.run_path(name, run_name="__main__")
