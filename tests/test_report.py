"""The process report: one JSON line per process and patch, and its summary.

``VLLM_PATCHES_REPORT=FILE`` makes every process that applies or skips a
patch append its lines to FILE; ``vllm-patches status --report FILE`` shows,
per process, what each one runs. The lines come from real processes here,
written with ``report.record`` as the plugin writes them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import python_env, run_cli, run_python
from vllm_patches import report

STABLE = "gemma4-mtp-stable-lm-head"
RELOAD = "gemma4-mtp-lm-head-reload"

WRITER = """
import sys
from vllm_patches import report
from vllm_patches.runtime import Outcome
outcomes = [Outcome({stable!r}, {outcome!r}, "message"), Outcome({reload!r}, "skipped", "not affected")]
for _ in range({times}):
    report.record(outcomes, "0.22.1", ("plugin",))
"""


def writer(times: int = 1, outcome: str = "applied") -> str:
    return WRITER.format(stable=STABLE, reload=RELOAD, outcome=outcome, times=times)


def write_report(path, *codes: str) -> None:
    for code in codes:
        run_python(["-c", code], VLLM_PATCHES_REPORT=str(path))


# Writing ----------------------------------------------------------------------------
def test_each_line_names_the_process_the_patch_and_the_outcome(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, writer())
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["patch"], e["outcome"], e["mode"]) for e in lines] == [
        (STABLE, "applied", "runtime"), (RELOAD, "skipped", "runtime")]
    first = lines[0]
    assert first["pid"] != first["ppid"] > 0
    assert first["vllm"] == "0.22.1" and first["via"] == "plugin"
    assert "-c" in first["process"]  # no title set: the command line
    assert first["time"].endswith("+00:00")


def test_the_process_title_is_the_one_vllm_sets(tmp_path, release):
    pytest.importorskip("setproctitle")
    path = tmp_path / "report.jsonl"
    code = ("from vllm.utils.system_utils import set_process_title\n"
            "set_process_title('Worker_TP1')\n" + writer())
    run_python(["-c", code], release("0.22.1"), VLLM_PATCHES_REPORT=str(path))
    assert {json.loads(line)["process"] for line in path.read_text().splitlines()} == {
        "VLLM::Worker_TP1"}


def test_processes_appending_at_once_never_mix_their_lines(tmp_path):
    path = tmp_path / "report.jsonl"
    procs = [
        subprocess.Popen([sys.executable, "-c", writer(times=300)],
                         env=python_env(VLLM_PATCHES_REPORT=str(path)))
        for _ in range(8)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 8
    entries, unreadable = report.read(str(path))
    assert unreadable == 0
    assert len(entries) == 8 * 300 * 2
    assert {len([e for e in entries if e["pid"] == p.pid]) for p in procs} == {600}


def test_without_the_variable_nothing_is_written(tmp_path, monkeypatch):
    from vllm_patches.runtime import Outcome

    monkeypatch.delenv(report.REPORT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    report.record([Outcome(STABLE, "applied", "message")], "0.22.1")
    assert list(tmp_path.iterdir()) == []


def test_a_report_that_cannot_be_written_is_a_warning_not_a_crash(tmp_path):
    proc = run_python(["-c", writer() + "print('still running')"],
                      VLLM_PATCHES_REPORT=str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert proc.stdout.strip() == "still running"
    assert "cannot append to the report" in proc.stderr


# Reading: vllm-patches status --report ------------------------------------------
def test_status_report_shows_one_row_per_process(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, writer(), writer(), writer(outcome="failed"))
    proc = run_cli("status", "--report", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "3 process(es)" in proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.split()[:1] and line.split()[0].isdigit()]
    assert len(rows) == 3
    assert f"{STABLE}: applied (runtime) in 2, failed in 1 of 3 process(es)" in proc.stdout
    assert f"{RELOAD}: skipped in 3 of 3 process(es)" in proc.stdout


def test_status_report_as_json(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, writer())
    data = json.loads(run_cli("status", "--report", str(path), "--json").stdout)
    (process,) = data["processes"]
    assert process["via"] == "plugin" and process["vllm"] == "0.22.1"
    assert process["patches"][STABLE]["outcome"] == "applied"
    assert data["unreadable_lines"] == 0


def test_status_report_check_exits_1_when_a_process_could_not_apply_a_patch(tmp_path):
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    write_report(good, writer())
    write_report(bad, writer(), writer(outcome="refused"))
    assert run_cli("status", "--report", str(good), "--check").returncode == 0
    assert run_cli("status", "--report", str(bad), "--check").returncode == 1


def test_status_report_can_be_limited_to_some_patches(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, writer())
    data = json.loads(run_cli("status", "--report", str(path), "--json", STABLE).stdout)
    assert list(data["processes"][0]["patches"]) == [STABLE]


def test_unreadable_lines_are_counted_not_fatal(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, writer())
    with path.open("a") as fh:
        fh.write('{"pid": 1, "patch": "x"\nnot json\n')
    proc = run_cli("status", "--report", str(path))
    assert proc.returncode == 0 and "2 unreadable line(s) ignored" in proc.stdout


def test_a_missing_report_is_one_sentence_and_exit_2(tmp_path):
    proc = run_cli("status", "--report", str(tmp_path / "nope.jsonl"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "VLLM_PATCHES_REPORT" in proc.stderr
    assert not (tmp_path / "nope.jsonl").exists()


def test_report_does_not_combine_with_target(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, writer())
    proc = run_cli("status", "--report", str(path), "--target", str(tmp_path))
    assert proc.returncode == 2 and "--report" in proc.stderr
