"""Job processes forked from the server that imported torch once (``verify.preload``).

A preloaded job is still a process of its own: its environment, its ``PYTHONPATH`` first
on ``sys.path``, its own session, stdout, stderr and exit status, and a timeout kills its
session. The probe module written here says what it found at start.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from vllm_patches.verify import preload
from vllm_patches.verify.jobs import Job, run_all

PROBE = '''import json, os, signal, sys
print(json.dumps({"torch_at_start": "torch" in sys.modules, "first": sys.path[0],
                  "marker": os.environ.get("PROBE_MARKER"), "argv": sys.argv[1:],
                  "own_session": os.getsid(0) == os.getpid(), "name": __name__}), flush=True)
print("a line for stderr", file=sys.stderr)
if "crash" in sys.argv:
    os.kill(os.getpid(), signal.SIGSEGV)
if "hang" in sys.argv:
    import subprocess, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print(json.dumps({"grandchild": child.pid}), flush=True)
    time.sleep(60)
sys.exit(3)
'''


@pytest.fixture
def probe(tmp_path):
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "preload_probe.py").write_text(PROBE)
    env = dict(os.environ, PYTHONPATH=str(folder), PROBE_MARKER="mine")

    def job(*args: str, preload: bool = True, **extra: str) -> Job:
        return Job("arm", "probe", [sys.executable, "-m", "preload_probe", *args],
                   dict(env, **extra), preload=preload)

    return folder, job


def test_a_preloaded_job_starts_with_torch_imported_and_everything_else_its_own(probe):
    folder, job = probe
    [done] = run_all([job("x", "y")], timeout=120)
    first = done.lines()[0]
    assert first == {"torch_at_start": True, "first": str(folder), "marker": "mine",
                     "argv": ["x", "y"], "own_session": True, "name": "__main__"}
    assert done.returncode == 3 and done.stderr.strip() == "a line for stderr"


@pytest.mark.parametrize("how", ["job", "environment"])
def test_without_preload_the_job_is_a_fresh_interpreter(probe, how, monkeypatch):
    _, job = probe
    if how == "environment":  # the parent's environment decides, not the job's
        monkeypatch.setenv(preload.ENV, "0")
    [done] = run_all([job(preload=how != "job")], timeout=120)
    assert done.lines()[0]["torch_at_start"] is False
    assert done.returncode == 3 and done.lines()[0]["own_session"] is True


def test_a_job_whose_environment_differs_in_what_torch_reads_at_import_starts_fresh(probe):
    _, job = probe
    [same, other] = run_all([job(), job(TORCH_SHOW_CPP_STACKTRACES="1")], timeout=120)
    assert same.lines()[0]["torch_at_start"] is True
    assert other.lines()[0]["torch_at_start"] is False  # imports torch under its own setting
    assert preload.read_at_import({"TORCHINDUCTOR_COMPILE_THREADS": "4", "HF_HUB_OFFLINE": "1",
                                   "PATH": "/bin"}) == {"HF_HUB_OFFLINE": "1"}


def test_a_preloaded_job_that_dies_reports_its_signal(probe):
    _, job = probe
    [done] = run_all([job("crash")], timeout=120)
    assert done.returncode == -signal.SIGSEGV
    assert "SIGSEGV" in done.no_result()


def test_a_preloaded_job_past_its_timeout_is_killed_with_its_session(probe):
    _, job = probe
    started = time.monotonic()
    [done] = run_all([job("hang")], timeout=20)
    assert done.timed_out and time.monotonic() - started < 50
    grandchild = done.lines()[1]["grandchild"]
    deadline = time.monotonic() + 10
    while running(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(grandchild)


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_job_whose_path_holds_its_own_torch_imports_that_one(probe, tmp_path):
    """A vLLM tree given as a whole site-packages brings its own torch: the job must not run
    with the server's."""
    folder, job = probe
    (folder / "torch").mkdir()
    (folder / "torch" / "__init__.py").write_text("MINE = True\n")
    assert preload.shadowed({"PYTHONPATH": str(folder)}) == [str(folder / "torch")]
    [done] = run_all([job()], timeout=120)
    assert done.lines()[0]["torch_at_start"] is False and done.lines()[0]["own_session"]


def test_a_script_runs_as_python_file_py_would(probe):
    folder, job = probe
    made = job("x")
    made.argv = [sys.executable, str(folder / "preload_probe.py"), "x"]
    [done] = run_all([made], timeout=120)
    assert done.lines()[0]["first"] == str(folder) and done.lines()[0]["name"] == "__main__"
    assert done.lines()[0]["torch_at_start"] is True and done.returncode == 3


def test_only_python_dash_m_or_a_script_is_preloaded():
    assert preload.entry([sys.executable, "-m", "vllm_patches.verify.check_arm", "a"]) \
        == ("module", "vllm_patches.verify.check_arm", ["a"])
    assert preload.entry([sys.executable, "s.py", "b"]) == ("path", "s.py", ["b"])
    assert preload.entry([sys.executable, "-c", "print(1)"]) is None
    assert preload.entry(["/other/python", "-m", "x"]) is None
