"""The report as evidence: only a file that no other user could have written, and only for
the run it is asked about.

The hostile files are real ones on disk, planted where ``VLLM_PATCHES_REPORT`` points:
a symlink (to a file of the victim's, to ``/dev/zero``, to nowhere), a FIFO, a device, a
folder, a file past the bound, a file another user owns (chowned: the tests run as root)
or can write, a file in a folder others can write. The writer is a real process that loads
the plugin as vLLM's processes do; the reader is the real command line, each run under a
timeout so that a hang fails the test instead of stalling it.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time

import pytest

from tests.helpers import run_cli, run_python
from tests.test_report import ONE, RUN, armer, check, lines_of, patch_line, write_report, writer
from vllm_patches.runtime.report import REPORT_LIMIT
from vllm_patches.runtime.reportline import LOCK_WAIT

GUARD = 120  # seconds: far past a CLI start on a busy machine, far short of a hang
OTHER_UID = 4321
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
pytestmark = pytest.mark.usefixtures("synthetic_env")  # the writers record synthetic ids


@pytest.fixture
def own(tmp_path):
    """A folder of this user that nobody else can write: where a report is believed."""
    folder = tmp_path / "own"
    folder.mkdir()
    folder.chmod(0o755)
    return folder


def arm_and_record(path, *, run: str = RUN, **env) -> subprocess.CompletedProcess:
    """A process that arms the plugin and records a patch into ``path``; it must live on."""
    return run_python(["-c", armer() + writer() + "print('still running')"], timeout=GUARD,
                      VLLM_PATCHES_REPORT=str(path), VLLM_PATCHES_RUN=run, **env)


def assert_refused_once(proc, words: str) -> None:
    """The process went on, and said once, in one line, that it wrote nothing."""
    assert proc.stdout.strip() == "still running"
    warnings = [line for line in proc.stderr.splitlines() if "cannot append to the report" in line]
    assert len(warnings) == 1, proc.stderr
    assert words in warnings[0] and "nothing is written" in warnings[0]
    assert "Traceback" not in proc.stderr


def status(path, *args: str):
    return run_cli("report", str(path), *args, timeout=GUARD)


def assert_one_sentence(proc, code: int, words: str) -> None:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert proc.stderr.startswith("vllm-patches: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr


# The writer: every process appends only to a plain file of its own ----------------------
def test_a_new_report_is_a_plain_file_only_its_owner_can_read_or_write(own):
    path = own / "report.jsonl"
    proc = arm_and_record(path)
    assert proc.stderr == "" and path.stat().st_mode & 0o777 == 0o600
    assert {line["event"] for line in lines_of(path)} == {"armed", "patch"}


@pytest.mark.parametrize("points_to", ["a file of the user", "nowhere", "/dev/zero"])
def test_the_writer_never_follows_a_symlink_planted_at_the_report_path(own, points_to):
    victim = own / "victim.txt"
    victim.write_text("the user's own file\n")
    target = {"a file of the user": victim, "nowhere": own / "created-by-the-link",
              "/dev/zero": "/dev/zero"}[points_to]
    (own / "report.jsonl").symlink_to(target)
    proc = arm_and_record(own / "report.jsonl")
    assert_refused_once(proc, "is a symlink")
    assert victim.read_text() == "the user's own file\n"
    assert not (own / "created-by-the-link").exists()


def test_the_writer_never_blocks_on_a_fifo_without_a_reader(own):
    os.mkfifo(own / "report.jsonl")
    assert_refused_once(arm_and_record(own / "report.jsonl"), "is a FIFO")


def test_the_writer_writes_nothing_into_a_fifo_that_someone_reads(own):
    os.mkfifo(own / "report.jsonl")
    reader = os.open(own / "report.jsonl", os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert_refused_once(arm_and_record(own / "report.jsonl"), "is not a plain file")
        assert _pending(reader) == b""  # nothing was written into the pipe
    finally:
        os.close(reader)


def _pending(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except BlockingIOError:  # a writer still has it open, and wrote nothing
        return b""


@needs_root
def test_the_writer_appends_nothing_to_a_report_another_user_owns(tmp_path):
    """The forgery: another user pre-creates the report in /tmp; the victim's processes
    must neither feed it nor, later, believe it."""
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp
    path = shared / "patches.jsonl"
    write_report(path, writer())  # what the forger wrote: applied lines of the victim's run
    os.chown(path, OTHER_UID, OTHER_UID)
    before = path.read_bytes()
    assert_refused_once(arm_and_record(path), f"owned by another user (uid {OTHER_UID})")
    assert path.read_bytes() == before
    assert_one_sentence(check(path), 1, "owned by another user")


@pytest.mark.parametrize("mode", [0o666, 0o646, pytest.param(0o662, marks=needs_root)])
def test_the_writer_appends_nothing_to_a_report_other_users_can_write(own, mode):
    path = own / "report.jsonl"
    path.write_text("")
    path.chmod(mode)
    if mode == 0o662:
        os.chown(path, os.geteuid(), OTHER_UID)  # group-writable, by a group not ours
    assert_refused_once(arm_and_record(path), "writable by other users")
    assert path.read_bytes() == b""


def test_the_writer_appends_nothing_in_a_folder_other_users_can_write(own):
    own.chmod(0o777)  # not sticky: anyone can replace the file under the reader
    assert_refused_once(arm_and_record(own / "report.jsonl"),
                        "in a folder where other users can replace it")
    assert not (own / "report.jsonl").exists()


def test_the_writer_appends_in_a_sticky_folder_as_tmp(own):
    own.chmod(0o1777)
    proc = arm_and_record(own / "report.jsonl")
    assert proc.stderr == ""
    assert len(lines_of(own / "report.jsonl")) == 3


def test_a_lock_that_someone_holds_delays_a_process_but_never_stops_it(own):
    """Anyone who can open the report can hold its flock: a vLLM process waits
    LOCK_WAIT seconds at most, then appends its line (one O_APPEND write) and goes on."""
    path = own / "report.jsonl"
    path.write_text("")
    with open(path, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        start = time.monotonic()
        proc = arm_and_record(path)
        took = time.monotonic() - start
    assert proc.stderr == "" and proc.stdout.strip() == "still running"
    assert len(lines_of(path)) == 3
    assert took >= LOCK_WAIT


def test_a_report_refused_many_times_is_warned_about_once(own):
    (own / "report.jsonl").symlink_to(own / "elsewhere")
    proc = run_python(["-c", armer() + writer(times=5) + "print('still running')"],
                      timeout=GUARD, VLLM_PATCHES_REPORT=str(own / "report.jsonl"))
    assert_refused_once(proc, "is a symlink")


# Runs: every line names the run of the process that wrote it ------------------------------
CHILD = """
import json, os, subprocess, sys
{armer}
child = subprocess.run([sys.executable, "-c", {child!r}], check=True)
print(json.dumps(os.environ.get("VLLM_PATCHES_RUN")))
"""


def test_the_first_process_makes_the_run_and_every_process_it_starts_inherits_it(own):
    path = own / "report.jsonl"
    code = CHILD.format(armer=armer(), child=writer())
    proc = run_python(["-c", code], timeout=GUARD, VLLM_PATCHES_REPORT=str(path))
    run = json.loads(proc.stdout.strip().splitlines()[-1])
    lines = lines_of(path)
    assert len({line["pid"] for line in lines}) == 2 and len(lines) == 3
    assert {line["run"] for line in lines} == {run}
    date, pid, tag = run.split("-")
    assert (len(date), int(pid), len(tag)) == (16, lines[0]["pid"], 8)


def test_two_starts_are_two_runs_and_a_run_the_user_names_is_kept(own):
    path = own / "report.jsonl"
    for _ in range(2):
        run_python(["-c", armer()], timeout=GUARD, VLLM_PATCHES_REPORT=str(path))
    write_report(path, writer(), run="deploy-42")
    runs = [line["run"] for line in lines_of(path)]
    assert len(set(runs[:2])) == 2 and runs[2:] == ["deploy-42", "deploy-42"]
    data = json.loads(status(path, "--json").stdout)
    assert [r["run"] for r in data["runs"]] == runs[:2] + ["deploy-42"]
    assert [r["processes"] for r in data["runs"]] == [1, 1, 1]


# The reader: status --report believes only a plain file of this user ----------------------
@pytest.mark.parametrize("args", [(), ("--json",), ("--check", "--run", RUN)],
                         ids=["show", "json", "check"])
@pytest.mark.parametrize("plant, words", [
    ("link to a good report", "is not a plain file (a symlink)"),
    ("link to /dev/zero", "is not a plain file (a symlink)"),
    ("file past the bound", f"is larger than {REPORT_LIMIT >> 20} MiB"),
    ("file others can write", "is writable by other users"),
    ("folder others can write", "is in a folder where other users can replace it"),
])
def test_a_report_that_is_no_evidence_says_so_in_one_sentence_and_exits_1(own, plant, words,
                                                                           args):
    good = own / "good.jsonl"
    write_report(good, writer())
    path = own / "report.jsonl"
    if plant == "link to a good report":
        path.symlink_to(good)
    elif plant == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif plant == "file past the bound":
        path.write_bytes(good.read_bytes())
        os.truncate(path, REPORT_LIMIT + 1)  # sparse: no disk, refused before a byte is read
    elif plant == "file others can write":
        path.write_bytes(good.read_bytes())
        path.chmod(0o666)
    else:
        path.write_bytes(good.read_bytes())
        own.chmod(0o777)
    before = os.lstat(path)
    proc = status(path, *args)
    assert_one_sentence(proc, 1, words)
    assert "no evidence" in proc.stderr and proc.stdout == ""
    after = os.lstat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


@needs_root
def test_a_report_another_user_owns_is_no_evidence_even_in_a_sticky_folder(tmp_path):
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    path = shared / "patches.jsonl"
    write_report(path, writer())
    assert check(path).returncode == 0  # the same lines, written by this user: evidence
    os.chown(path, OTHER_UID, OTHER_UID)
    assert_one_sentence(check(path), 1, f"is owned by another user (uid {OTHER_UID})")


@pytest.mark.parametrize("plant, words", [
    ("fifo", "is not a plain file (a FIFO)"),
    ("device", "is not a plain file (a device)"),
    ("folder", "is not a plain file (a folder)"),
])
def test_a_report_path_that_is_not_a_file_at_all_is_bad_input(own, plant, words):
    path = {"fifo": own / "report.jsonl", "device": "/dev/zero", "folder": own}[plant]
    if plant == "fifo":
        os.mkfifo(path)
    for args in ((), ("--check", "--run", RUN)):
        assert_one_sentence(status(path, *args), 2, words)


# The run asked about: yesterday's lines never pass for today's run --------------------------
def test_check_needs_the_run_it_is_asked_about(own):
    path = own / "report.jsonl"
    write_report(path, writer())
    proc = status(path, "--check")
    assert_one_sentence(proc, 2, "--check needs --run ID")
    assert proc.stdout == ""
    assert check(path).returncode == 0


def test_a_stale_run_is_no_evidence_for_todays_run(own):
    """Yesterday's run applied the fix; today's processes never loaded the plugin."""
    path = own / "report.jsonl"
    write_report(path, armer(), writer(), run="yesterday")
    before = path.read_bytes()
    assert check(path, run="yesterday").returncode == 0
    proc = check(path, run="today")
    assert_one_sentence(proc, 1, "holds no line of run today")
    assert "yesterday" in proc.stderr and "no evidence" in proc.stderr
    assert path.read_bytes() == before


def test_each_run_is_judged_on_its_own_lines(own):
    path = own / "report.jsonl"
    write_report(path, writer(), run="monday")
    write_report(path, writer(outcome="failed"), run="tuesday")
    write_report(path, writer(), run="wednesday")
    assert check(path, run="monday").returncode == 0
    assert_one_sentence(check(path, run="tuesday"), 1, f"{ONE} failed")
    assert check(path, run="wednesday").returncode == 0
    shown = status(path)
    assert shown.returncode == 0 and "3 run(s) in this report" in shown.stdout
    assert [line.split()[0] for line in shown.stdout.splitlines()
            if line.split()[:1] and line.split()[0] in ("monday", "tuesday", "wednesday")] == [
        "monday", "tuesday", "wednesday"] * 2  # the RUN column, then the list of runs
    data = json.loads(status(path, "--json", "--run", "tuesday").stdout)
    assert data["run"] == "tuesday" and {p["run"] for p in data["processes"]} == {"tuesday"}
    assert data["check"]["passed"] is False


def test_lines_from_before_runs_are_no_evidence_for_a_run(own):
    path = own / "report.jsonl"
    path.write_text(patch_line(run=...) + patch_line(run=..., pid=4243))
    proc = check(path)
    assert_one_sentence(proc, 1, "lines from before runs")
    shown = status(path)
    assert shown.returncode == 0 and "(none: lines from before runs)" in shown.stdout


def test_run_is_a_report_option(own):
    assert_one_sentence(run_cli("status", "--run", RUN, timeout=GUARD), 2, "report FILE")
    path = own / "report.jsonl"
    write_report(path, writer())
    assert_one_sentence(status(path, "--check", "--run", " "), 2, "--run needs a run id")
