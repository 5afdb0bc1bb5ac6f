"""Run processes at once, each in a session of its own, and read their JSON lines.

Every step that imports vLLM runs in a process of its own (``verify``'s arms,
``catalog check``'s runtime step): a crash there (an illegal memory access, a
segfault in a native library) must cost that process, never the caller. A job
prints one JSON object per line for each result it has; ``on_line`` sees each
one as it is printed (progress on long work), and ``Finished.lines()`` gives
them all afterwards. A job that runs past its timeout is killed with the
processes it started (its session).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Job:
    arm: str
    scenario: str  # what the job is about: a scenario, a patch id, "patch release"
    argv: list[str]
    env: dict[str, str] = field(repr=False)
    timeout: float | None = None  # None: the timeout given to run_all
    members: tuple[str, ...] = ()  # the patches whose results it prints, in turn
    preload: bool = False  # a CPU job: may start from the server that imported torch once
    own_session: bool = True  # False: in the caller's session, so stopping the caller stops it


@dataclass
class Finished:
    job: Job
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float
    limit: float  # the timeout it ran under

    def lines(self) -> list[dict]:
        """The JSON objects the job printed, one per line, in order (other lines skipped)."""
        found = []
        for line in self.stdout.splitlines():
            data = json_line(line)
            if data is not None:
                found.append(data)
        return found

    def last_stderr_line(self) -> str:
        return next((ln.strip() for ln in reversed(self.stderr.splitlines()) if ln.strip()), "")

    def results(self) -> dict[str, dict]:
        """Each member's line: the JSON lines of this job's arm that name one of its
        members (``"patch"``)."""
        return {line["patch"]: line for line in self.lines()
                if line.get("arm") == self.job.arm and line.get("patch") in self.job.members}

    def no_result(self) -> str:
        """Why a member has no line: the job ran out of time, or its process ended."""
        from vllm_patches.verify import messages

        if self.timed_out:
            return messages.arm_timed_out(self.limit)
        return messages.arm_crashed(self.returncode, self.last_stderr_line())


def json_line(line: str) -> dict | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def run_all(jobs: list[Job], timeout: float, *,
            on_line: Callable[[Job, dict], None] | None = None,
            on_done: Callable[[Finished], None] | None = None) -> list[Finished]:
    """Start every job at once; wait for all. ``on_line(job, data)`` for each JSON line as it
    comes, ``on_done(finished)`` as each ends (both called under one lock)."""
    lock = threading.Lock()
    started = time.perf_counter()
    procs = [_start(job) for job in jobs]

    def wait(index: int) -> Finished:
        job, proc = jobs[index], procs[index]
        limit = job.timeout if job.timeout is not None else timeout
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            kill_group(proc)

        timer = threading.Timer(limit, expire)
        timer.daemon = True
        err_parts: list[str] = []
        reader = threading.Thread(target=lambda: err_parts.append(proc.stderr.read()),
                                  daemon=True)
        reader.start()
        timer.start()
        out_parts = []
        try:
            for line in proc.stdout:
                out_parts.append(line)
                data = json_line(line) if on_line is not None else None
                if data is not None:
                    with lock:
                        on_line(job, data)
            proc.wait()
        finally:
            timer.cancel()
        reader.join()
        done = Finished(job, proc.returncode, "".join(out_parts), "".join(err_parts),
                        expired.is_set(), round(time.perf_counter() - started, 2), limit)
        if on_done is not None:
            with lock:
                on_done(done)
        return done

    try:
        with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
            return list(pool.map(wait, range(len(jobs))))
    except BaseException:  # Ctrl-C: no process may go on (or go on using the GPU)
        for proc in procs:
            if proc.poll() is None:
                kill_group(proc)
        raise


def _start(job: Job):
    """The job's process: forked from the preload server where the job allows it (see
    ``preload``), else a fresh interpreter; in a session of its own unless the job says
    otherwise (``own_session``)."""
    from vllm_patches.verify import preload

    if job.preload and preload.enabled():
        started = preload.start(job.argv, job.env)
        if started is not None:
            return started
    return subprocess.Popen(job.argv, env=job.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=job.own_session)


def kill_group(proc) -> None:
    """The process and the ones it started (its own session, started with it)."""
    for kill in (os.killpg, os.kill):  # os.kill: a child killed before it made its session
        try:
            kill(proc.pid, signal.SIGKILL)
            return
        except (ProcessLookupError, PermissionError):
            continue
