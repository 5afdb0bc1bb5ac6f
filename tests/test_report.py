"""The process report: one JSON line per process and patch, and its summary.

``VLLM_PATCHES_REPORT=FILE`` makes every process that loads the plugin append
one "armed" line, then one line per patch once its target is imported;
``vllm-patches status --report FILE`` shows, per process, what each one runs,
and ``--check`` passes only on evidence. The lines come from real processes
here, written with ``plugin.register`` and ``report.record`` as the plugin
writes them; the bad lines are written by hand, as a broken or hostile writer
would leave them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import python_env, run_cli, run_python
from vllm_patches.runtime import report
from tests.synthetic import FUNCTION, METHOD
from vllm_patches.runtime import reportline

# Two patches of the synthetic catalogue (tests/synthetic.py), which every process here sees.
ONE, OTHER = METHOD.id, FUNCTION.id
pytestmark = pytest.mark.usefixtures("synthetic_env")
RUN = "20260101T000000Z-1-0badc0de"  # the run of the lines a test writes, unless it says

WRITER = """
import sys
from vllm_patches.runtime import report
from vllm_patches.runtime.patcher import Result
outcomes = [Result(i, o, "message") for i, o in {pairs!r}]
for _ in range({times}):
    report.record(outcomes, "0.22.1", ("plugin",))
"""

ARMER = """
from vllm_patches.runtime import plugin
for _ in range(3):
    plugin.register(via={via!r})
"""


def writer(times: int = 1, outcome: str = "applied", reload: str | None = "skipped") -> str:
    """A process that records ``outcome`` for ONE (and ``reload`` for OTHER)."""
    pairs = [(ONE, outcome)] + ([(OTHER, reload)] if reload else [])
    return WRITER.format(pairs=pairs, times=times)


def armer(via: str = "plugin") -> str:
    """A process that loads the plugin and never imports a patched module."""
    return ARMER.format(via=via)


def write_report(path, *codes: str, run: str = RUN) -> None:
    """Each code in a process of run ``run`` (one deployment's API server, engine core...)."""
    for code in codes:
        run_python(["-c", code], VLLM_PATCHES_REPORT=str(path), VLLM_PATCHES_RUN=run)


def check(path, *args: str, run: str = RUN):
    """``vllm-patches status --report PATH --check --run RUN ARGS``."""
    return run_cli("report", str(path), "--check", "--run", run, *args)


# Writing ----------------------------------------------------------------------------
def test_each_line_names_the_process_the_patch_and_the_outcome(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, writer())
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["patch"], e["outcome"], e["mode"]) for e in lines] == [
        (ONE, "applied", "runtime"), (OTHER, "skipped", "runtime")]
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
    from vllm_patches.runtime.patcher import Result

    monkeypatch.delenv(report.REPORT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    report.record([Result(ONE, "applied", "message")], "0.22.1")
    assert list(tmp_path.iterdir()) == []


def test_a_report_that_cannot_be_written_is_a_warning_not_a_crash(tmp_path):
    proc = run_python(["-c", writer() + "print('still running')"],
                      VLLM_PATCHES_REPORT=str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert proc.stdout.strip() == "still running"
    assert "cannot append to the report" in proc.stderr



def lines_of(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("selection, armed", [
    ("", "all"), ("all", "all"), (ONE, [ONE]), (f"{OTHER}, {ONE}", [OTHER, ONE]),
])
def test_a_process_that_loads_the_plugin_writes_one_armed_line(tmp_path, selection, armed):
    path = tmp_path / "report.jsonl"
    proc = run_python(["-c", armer()], VLLM_PATCHES=selection, VLLM_PATCHES_REPORT=str(path))
    (line,) = lines_of(path)  # register() ran three times: one line
    assert (line["event"], line["outcome"], line["patches"], line["via"]) == (
        "armed", "armed", armed, "plugin")
    assert line["pid"] != line["ppid"] > 0
    assert "-c" in line["process"] and line["time"].endswith("+00:00")
    assert "patch" not in line and proc.stderr == ""


def test_patch_lines_say_they_are_patch_events(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, writer())
    assert {line["event"] for line in lines_of(path)} == {"patch"}


@pytest.mark.parametrize("code", [writer(), armer()], ids=["patch lines", "armed line"])
def test_a_report_that_cannot_be_written_is_a_warning_not_a_crash_either_way(tmp_path, code):
    proc = run_python(["-c", code + "\nprint('still running')"],
                      VLLM_PATCHES_REPORT=str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert proc.stdout.strip() == "still running"
    assert "cannot append to the report" in proc.stderr and "Traceback" not in proc.stderr



@pytest.mark.parametrize("text", [
    "", 'say "hi"', "back\\slash", "new\nline\ttab\x00nul\x1f", "café ☕ 𝔘", "\udcff lone surrogate",
])
def test_a_line_is_json_whatever_the_strings_hold(text):
    """The writer builds lines without the json module (register() must stay cheap)."""
    fields = {"process": text, "pid": 7, "ok": True, "none": None, "patches": [text, "x"]}
    encoded = reportline.line(fields)
    assert encoded.endswith(b"\n") and encoded.count(b"\n") == 1
    assert json.loads(encoded) == fields


# Reading: vllm-patches report FILE -----------------------------------------------
def test_status_report_shows_one_row_per_process(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, writer(), writer(), writer(outcome="failed"))
    proc = run_cli("report", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "3 process(es)" in proc.stdout
    processes = proc.stdout.partition(" run(s) in this report")[0].rsplit("\n", 1)[0]
    rows = [line for line in processes.splitlines() if line.split()[:1] and line.split()[0].isdigit()]
    assert len(rows) == 3
    assert f"{ONE}: applied (runtime) in 2, failed in 1 of 3 process(es)" in proc.stdout
    assert f"{OTHER}: skipped in 3 of 3 process(es)" in proc.stdout


def test_status_report_as_json(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, writer())
    data = json.loads(run_cli("report", str(path), "--json").stdout)
    (process,) = data["processes"]
    assert process["via"] == "plugin" and process["vllm"] == "0.22.1"
    assert process["patches"][ONE]["outcome"] == "applied"
    assert data["unreadable_lines"] == 0


def test_status_report_check_exits_1_when_a_process_could_not_apply_a_patch(tmp_path):
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    write_report(good, writer())
    write_report(bad, writer(), writer(outcome="refused"))
    assert check(good).returncode == 0
    assert check(bad).returncode == 1


def test_status_report_can_be_limited_to_some_patches(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, writer())
    data = json.loads(run_cli("report", str(path), "--json", ONE).stdout)
    assert list(data["processes"][0]["patches"]) == [ONE]


def test_unreadable_lines_are_counted_not_fatal(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, writer())
    with path.open("a") as fh:
        fh.write('{"pid": 1, "patch": "x"\nnot json\n')
    proc = run_cli("report", str(path))
    assert proc.returncode == 0 and "2 unreadable line(s) ignored" in proc.stdout


def test_a_missing_report_is_one_sentence_and_exit_2(tmp_path):
    proc = run_cli("report", str(tmp_path / "nope.jsonl"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "VLLM_PATCHES_REPORT" in proc.stderr
    assert not (tmp_path / "nope.jsonl").exists()


def test_report_does_not_combine_with_target(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, writer())
    old = run_cli("status", "--report", str(path), "--target", str(tmp_path))
    assert old.returncode == 2 and "--report" in old.stderr
    proc = run_cli("report", str(path), "--target", str(tmp_path))
    assert proc.returncode == 2 and "--target" in proc.stderr


# status --report --check: exit 0 only on evidence -----------------------------------
def patch_line(**fields) -> str:
    """One line as the plugin writes it, with ``fields`` replaced."""
    line = {"time": "2026-01-01T00:00:00.000+00:00", "run": RUN, "pid": 4242, "ppid": 1,
            "process": "VLLM::Worker_TP0", "vllm": "0.22.1", "via": "plugin", "event": "patch",
            "patch": ONE, "outcome": "applied", "mode": "runtime", "message": "applied"}
    line.update(fields)
    return json.dumps({k: v for k, v in line.items() if v is not ...}) + "\n"


def armed_line(**fields) -> str:
    line = {"time": "2026-01-01T00:00:00.000+00:00", "run": RUN, "pid": 4343, "ppid": 1,
            "process": "python",
            "via": "pth", "event": "armed", "outcome": "armed", "patches": "all"}
    line.update(fields)
    return json.dumps(line) + "\n"


NESTED = "[" * 100_000 + "]" * 100_000
NO_EVIDENCE = {
    "empty file": "",
    "blank lines": "\n  \n\n",
    "garbage lines": "not json\n{]\n",
    "a JSON list": "[1, 2, 3]\n",
    "a JSON string": '"applied"\n',
    "pid a string": patch_line(pid="4242"),
    "pid true": patch_line(pid=True),
    "pid a float": patch_line(pid=4242.5),
    "pid negative": patch_line(pid=-3),
    "pid missing": patch_line(pid=...),
    "pid NaN": patch_line().replace('"pid": 4242', '"pid": NaN'),
    "pid of 5000 digits": patch_line().replace('"pid": 4242', '"pid": ' + "9" * 5000),
    "ppid a string": patch_line(ppid="1"),
    "patch a list": patch_line(patch=[ONE]),
    "patch empty": patch_line(patch=""),
    "patch missing": patch_line(patch=...),
    "outcome a dict": patch_line(outcome={"applied": True}),
    "outcome null": patch_line(outcome=None),
    "outcome missing": patch_line(outcome=...),
    "process a number": patch_line(process=7),
    "via a list": patch_line(via=["plugin"]),
    "mode a list": patch_line(mode=["runtime"]),
    "message a dict": patch_line(message={}),
    "vllm a number": patch_line(vllm=0.22),
    "time a number": patch_line(time=1700000000),
    "run a number": patch_line(run=20260101),
    "run a list": patch_line(run=[RUN]),
    "an unknown event": patch_line(event="exploded"),
    "armed with patches a dict": armed_line(patches={"all": True}),
    "armed with patches a list of numbers": armed_line(patches=[1, 2]),
    "armed with an outcome other than armed": armed_line(outcome="applied"),
    "deeply nested JSON": '{"pid": ' + NESTED + "}\n",
    "deeply nested patch field": patch_line().replace(f'"patch": "{ONE}"', '"patch": ' + NESTED),
    "bytes that are not UTF-8": b"\xff\xfe\x00garbage\n",
}


@pytest.mark.parametrize("content", NO_EVIDENCE.values(), ids=NO_EVIDENCE.keys())
def test_check_fails_in_one_sentence_on_a_report_without_evidence(tmp_path, content):
    path = tmp_path / "report.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = path.read_bytes()
    proc = check(path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("vllm-patches: ") and proc.stderr.count("\n") == 1
    assert "no evidence" in proc.stderr
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", NO_EVIDENCE.values(), ids=NO_EVIDENCE.keys())
def test_without_check_a_report_without_evidence_is_shown_not_a_crash(tmp_path, content):
    path = tmp_path / "report.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    for args in ((), ("--json",)):
        proc = run_cli("report", str(path), *args)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert json.loads(proc.stdout)["processes"] == []


@pytest.mark.parametrize("outcome", ["applied", "already-applied", "applied-in-source",
                                     "inherited", "skipped"])
def test_check_passes_on_evidence_that_the_patch_is_in_place_or_not_needed(tmp_path, outcome):
    path = tmp_path / "report.jsonl"
    write_report(path, writer(outcome=outcome), writer())
    proc = check(path)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert check(path, ONE).returncode == 0


@pytest.mark.parametrize("outcome", ["refused", "failed", "exploded"])
def test_check_fails_when_a_process_did_not_put_the_patch_in_and_says_which(tmp_path, outcome):
    path = tmp_path / "report.jsonl"
    write_report(path, writer(), writer(outcome=outcome))
    proc = check(path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("vllm-patches: ") and proc.stderr.count("\n") == 1
    assert ONE in proc.stderr and outcome in proc.stderr
    assert check(path, OTHER).returncode == 0


def test_check_fails_for_an_asked_patch_that_no_process_recorded(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, writer(reload=None))
    assert check(path, ONE).returncode == 0
    proc = check(path, OTHER)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert OTHER in proc.stderr and "no evidence" in proc.stderr


def test_check_fails_when_some_lines_cannot_be_read(tmp_path):
    """An unreadable line may be a failure that a broken writer mangled: no pass over it."""
    path = tmp_path / "report.jsonl"
    write_report(path, writer())
    with path.open("a") as fh:
        fh.write(patch_line(pid="4242", outcome="failed"))
    assert run_cli("report", str(path)).returncode == 0
    proc = check(path)
    assert proc.returncode == 1 and "1 line" in proc.stderr and proc.stderr.count("\n") == 1


def test_an_unknown_patch_id_is_bad_input(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, writer())
    proc = check(path, "no-such-patch")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "no-such-patch" in proc.stderr


# Processes that armed the plugin but never imported a patched module --------------
def test_a_process_that_armed_but_never_imported_a_target_is_shown_apart(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, armer(via="pth"), writer())
    (armed,) = [e for e in lines_of(path) if e["event"] == "armed"]
    proc = run_cli("report", str(path))
    assert proc.returncode == 0
    assert "1 process(es)" in proc.stdout
    head, _, armed_part = proc.stdout.partition("armed; target not imported")
    assert armed_part, proc.stdout
    assert str(armed["pid"]) in armed_part and str(armed["pid"]) not in head
    data = json.loads(run_cli("report", str(path), "--json").stdout)
    assert [p["pid"] for p in data["armed_target_not_imported"]] == [armed["pid"]]
    assert [p["armed"] for p in data["armed_target_not_imported"]] == ["all"]
    assert len(data["processes"]) == 1


def test_a_process_that_armed_then_patched_is_one_row_with_its_outcomes(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, armer() + writer())
    assert len({e["pid"] for e in lines_of(path)}) == 1
    data = json.loads(run_cli("report", str(path), "--json").stdout)
    (process,) = data["processes"]
    assert process["armed"] == "all" and process["patches"][ONE]["outcome"] == "applied"
    assert data["armed_target_not_imported"] == []


def test_a_report_of_armed_processes_only_proves_the_plugin_loaded_but_no_patch(tmp_path):
    path = tmp_path / "report.jsonl"
    write_report(path, armer(), armer())
    proc = check(path)
    assert proc.returncode == 0, proc.stderr
    assert "2 process(es) armed; target not imported" in proc.stdout
    asked = check(path, ONE)
    assert asked.returncode == 1 and ONE in asked.stderr and "no evidence" in asked.stderr


def test_an_armed_process_is_shown_under_the_patches_it_armed(tmp_path):
    path = tmp_path / "report.jsonl"
    path.write_text(armed_line(pid=11, patches=[OTHER]) + armed_line(pid=12, patches="all"))
    data = json.loads(run_cli("report", str(path), "--json", ONE).stdout)
    assert [p["pid"] for p in data["armed_target_not_imported"]] == [12]


@pytest.mark.parametrize("extra", [(), ("--json",), ("--check", "--run", RUN)],
                         ids=["table", "json", "check"])
def test_the_old_status_report_spelling_reads_the_same_with_a_notice(tmp_path, extra):
    """``status --report FILE`` (now ``vllm-patches report FILE``) works for one release:
    the same output and exit code, one line on stderr."""
    path = tmp_path / "report.jsonl"
    write_report(path, writer(), writer(outcome="failed"))
    new = run_cli("report", str(path), *extra)
    old = run_cli("status", "--report", str(path), *extra)
    assert (old.returncode, old.stdout) == (new.returncode, new.stdout)
    assert new.returncode == (1 if "--check" in extra else 0)
    assert old.stderr.splitlines() == [
        "vllm-patches: warning: status --report FILE is deprecated and goes in the next "
        "release; use vllm-patches report FILE.", *new.stderr.splitlines()]
