"""The command line: status output, JSON, exit codes, and friendly errors."""

import json
import re
import subprocess
import sys

import pytest

from tests.conftest import GEMMA4_FIXED_RELEASE, GEMMA4_STABLE_RELEASES
from tests.helpers import run_cli, run_python

GEMMA_LAST = GEMMA4_STABLE_RELEASES[-1]  # the last release of the Gemma 4 fix


def test_status_human_output_names_the_vllm_and_each_patch(release):
    proc = run_cli("status", "--target", str(release(GEMMA_LAST)))
    assert proc.returncode == 0, proc.stderr
    assert f"vLLM {GEMMA_LAST} at {release(GEMMA_LAST)}" in proc.stdout
    assert re.search(r"^gemma4-mtp-stable-lm-head +applicable ", proc.stdout, re.M)
    assert "next: vllm-patches apply gemma4-mtp-stable-lm-head" in proc.stdout


def test_status_json_schema(release):
    proc = run_cli("status", "--json", "--target", str(release(GEMMA4_FIXED_RELEASE)))
    data = json.loads(proc.stdout)
    assert data["vllm"]["version"] == GEMMA4_FIXED_RELEASE
    by_id = {p["id"]: p for p in data["patches"]}
    assert by_id["gemma4-mtp-stable-lm-head"]["state"] == "fixed-upstream"
    assert by_id["gemma4-mtp-lm-head-reload"]["state"] == "applicable"
    for patch in data["patches"]:
        assert {"id", "state", "affected", "upstream", "next"} <= set(patch)


def test_status_json_without_vllm_says_null():
    data = json.loads(run_cli("status", "--json").stdout)
    assert data["vllm"] is None
    assert {p["state"] for p in data["patches"]} == {"not-applicable"}


def test_status_check_gates_ci(release, tree_copy):
    """Red while a fix this tree needs is missing, green once every one is in its files."""
    assert run_cli("status", "--check", "--target", str(release(GEMMA_LAST))).returncode == 1
    tree = tree_copy(GEMMA_LAST)
    assert run_cli("status", "--check", "--target", str(tree)).returncode == 1
    assert run_cli("apply", "--target", str(tree)).returncode == 0
    assert run_cli("status", "--check", "--target", str(tree)).returncode == 0


def test_status_takes_the_installed_vllm_from_the_path(release):
    proc = run_cli("status", "--json", paths=(release(GEMMA4_STABLE_RELEASES[0]),))
    assert json.loads(proc.stdout)["vllm"]["version"] == GEMMA4_STABLE_RELEASES[0]


def test_status_imports_neither_torch_nor_vllm(release):
    code = (
        "import sys; from vllm_patches.cli.main import cli\n"
        "try:\n    cli(['status', '--json'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, 'vllm' in sys.modules, 'git' in sys.modules)"
    )
    out = run_python(["-c", code], release(GEMMA_LAST)).stdout.strip().splitlines()[-1]
    assert out == "False False False"


def test_bad_target_is_one_sentence_exit_2(tmp_path):
    proc = run_cli("status", "--target", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("vllm-patches: ") and "is not a vLLM tree" in proc.stderr


def test_unknown_patch_id_is_exit_2(release):
    proc = run_cli("status", "nope", "--target", str(release(GEMMA_LAST)))
    assert proc.returncode == 2 and "Unknown patch id 'nope'" in proc.stderr


def test_bad_version_override_is_exit_2(release):
    proc = run_cli("status", "--vllm-version", "latest", "--target", str(release(GEMMA_LAST)))
    assert proc.returncode == 2 and "not a PEP 440 version" in proc.stderr


def test_every_command_has_help_with_an_example():
    from vllm_patches.cli.main import cli

    for name, command in cli.commands.items():
        proc = run_cli(name, "--help")
        assert proc.returncode == 0, name
        assert "Example" in proc.stdout, f"{name} --help has no example"
        if hasattr(command, "commands"):
            for sub in command.commands:
                sub_help = run_cli(name, sub, "--help")
                assert "Example" in sub_help.stdout, f"{name} {sub} --help has no example"


def test_usage_errors_are_one_sentence_exit_2(tmp_path):
    for args in (("status", "--bogus"), ("nosuch",), ("verify", "--set", "nosuch=1"),
                 ("status", "--target", str(tmp_path / "file.txt"))):
        (tmp_path / "file.txt").write_text("not a tree")
        proc = run_cli(*args)
        assert proc.returncode == 2, args
        assert proc.stderr.startswith("vllm-patches: ") and proc.stderr.count("\n") == 1, args
        assert "Traceback" not in proc.stderr and "Usage:" not in proc.stderr, args


# An output that cannot be written ------------------------------------------------------
OUTPUTS = {  # commands whose output is on stdout, each in another way
    "status": lambda tree: ["status", "--target", tree],
    "status --json": lambda tree: ["status", "--json", "--target", tree],
    "diff (bytes)": lambda tree: ["diff", "--target", tree],
    "--help": lambda tree: ["--help"],
    "--version": lambda tree: ["--version"],
}


def cli_proc(args, **kwargs):
    from tests.helpers import REPO, python_env

    return subprocess.Popen([sys.executable, "-m", "vllm_patches", *args], env=python_env(),
                            cwd=REPO, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.parametrize("command", list(OUTPUTS))
def test_a_full_disk_under_stdout_is_one_sentence_and_exit_2(release, command):
    with open("/dev/full", "w") as full:
        proc = cli_proc(OUTPUTS[command](str(release(GEMMA_LAST))), stdout=full)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert err == "vllm-patches: Cannot write to standard output (No space left on device).\n"


@pytest.mark.parametrize("command", list(OUTPUTS))
def test_a_closed_pipe_ends_quietly_with_141(release, command):
    proc = cli_proc(OUTPUTS[command](str(release(GEMMA_LAST))), stdout=subprocess.PIPE)
    proc.stdout.close()  # `| head -0`: the reader is gone before the first line
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141 and err == ""


def test_an_output_that_is_read_to_its_end_still_exits_as_before(release):
    proc = run_cli("status", "--check", "--target", str(release(GEMMA_LAST)))
    assert proc.returncode == 1 and proc.stderr == "" and "applicable" in proc.stdout


def test_no_module_of_the_cli_imports_its_main():
    """cli.main registers the commands: a command module that imported it back would be a
    cycle (each verb group is a module; what they share is cli.common)."""
    import ast
    from pathlib import Path

    import vllm_patches.cli

    folder = Path(vllm_patches.cli.__file__).parent
    importers = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "vllm_patches.cli.main" for n in names) or (
                    isinstance(node, ast.ImportFrom) and node.module == "vllm_patches.cli"
                    and any(a.name == "main" for a in node.names)):
                importers.append(path.name)
    assert importers == []
