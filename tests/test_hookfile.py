"""The opt-in ``.pth`` hook: ``vllm-patches hook install / uninstall / status``.

A Python that reads the ``.pth`` file at start-up arms the same import hook
as the vLLM plugin, so a plain ``import`` of a patched vLLM module runs the
fix in processes that vLLM does not start.
"""

from __future__ import annotations

import ast
import json
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SCENARIOS, python_env, run_cli
from vllm_patches.runtime.hookfile import PTH_NAME


def hook(*args: str, **extra: str) -> subprocess.CompletedProcess:
    return run_cli("hook", *args, **extra)


# The command ----------------------------------------------------------------------
def test_install_writes_one_pth_file_and_says_so(tmp_path):
    proc = hook("install", "--site", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == [PTH_NAME]
    assert "Installed" in proc.stdout and str(tmp_path / PTH_NAME) in proc.stdout
    # A folder that this Python does not read at start-up gets a note.
    assert "does not read .pth files" in proc.stdout


def test_install_twice_changes_nothing(tmp_path):
    hook("install", "--site", str(tmp_path))
    before = (tmp_path / PTH_NAME).read_text()
    proc = hook("install", "--site", str(tmp_path))
    assert proc.returncode == 0 and "Already installed" in proc.stdout
    assert (tmp_path / PTH_NAME).read_text() == before


def test_status_reports_the_file_as_json(tmp_path):
    before = json.loads(hook("status", "--site", str(tmp_path), "--json").stdout)
    assert before["installed"] is False
    hook("install", "--site", str(tmp_path))
    state = json.loads(hook("status", "--site", str(tmp_path), "--json").stdout)
    assert state["installed"] is True and state["current"] is True
    assert state["read_at_startup"] is False and state["armed_by"] == []


def test_status_flags_a_file_written_by_another_version(tmp_path):
    (tmp_path / PTH_NAME).write_text("import sys\n")
    proc = hook("status", "--site", str(tmp_path))
    assert "another vllm-patches" in proc.stdout
    assert json.loads(hook("status", "--site", str(tmp_path), "--json").stdout)["current"] is False


def test_uninstall_removes_the_file_and_only_it(tmp_path):
    (tmp_path / "other.pth").write_text("/somewhere\n")
    hook("install", "--site", str(tmp_path))
    proc = hook("uninstall", "--site", str(tmp_path))
    assert proc.returncode == 0 and "Removed" in proc.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["other.pth"]
    again = hook("uninstall", "--site", str(tmp_path))
    assert again.returncode == 0 and "nothing to remove" in again.stdout


@pytest.mark.parametrize("command", ["install", "uninstall", "status"])
def test_a_missing_site_folder_is_one_sentence_and_exit_2(tmp_path, command):
    missing = tmp_path / "nope"
    proc = hook(command, "--site", str(missing))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not missing.exists()


def test_a_file_as_site_folder_is_refused(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    proc = hook("install", "--site", str(not_a_folder))
    assert proc.returncode == 2 and "is not a folder" in proc.stderr
    assert not_a_folder.read_text() == ""


def test_an_unwritable_site_folder_is_one_sentence_and_exit_2(tmp_path):
    site = tmp_path / "ro"
    site.mkdir()
    site.chmod(0o555)
    try:
        probe = site / "probe"
        try:
            probe.write_text("")  # root ignores permissions
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("this user can write into read-only folders")
        proc = hook("install", "--site", str(site))
        assert proc.returncode == 2 and "Cannot write" in proc.stderr
        assert list(site.iterdir()) == []
    finally:
        site.chmod(0o755)


# What the .pth line does ------------------------------------------------------------
def read_pth(site_dir, *, code: str, no_site: bool = False, paths=(),
             **env) -> subprocess.CompletedProcess:
    """A Python that reads the .pth files of ``site_dir`` as start-up does, then runs ``code``."""
    prelude = f"import site, sys; before = set(sys.modules); site.addsitedir({str(site_dir)!r})\n"
    args = [sys.executable, *(["-S"] if no_site else []), "-c", prelude + code]
    environ = python_env(*paths, **env)
    if no_site:
        environ["PYTHONPATH"] = ""
    return subprocess.run(args, env=environ, capture_output=True, text=True, timeout=60,
                          cwd=site_dir)


def test_the_pth_line_imports_only_the_hook_module_and_arms_the_hook(tmp_path):
    hook("install", "--site", str(tmp_path))
    proc = read_pth(tmp_path, code=(
        "from vllm_patches.runtime import plugin\n"
        "print(sorted(set(sys.modules) - before), plugin.armed_by())"
    ))
    assert proc.stderr == ""
    new, armed = proc.stdout.strip().split("] ")
    assert set(ast.literal_eval(new + "]")) <= {
        "vllm_patches", "vllm_patches._version", "vllm_patches.runtime",
        "vllm_patches.runtime.importhook", "vllm_patches.runtime.plugin"}
    assert ast.literal_eval(armed) == ("pth",)


def test_the_pth_line_is_silent_when_vllm_patches_is_gone(tmp_path):
    hook("install", "--site", str(tmp_path))
    proc = read_pth(tmp_path, no_site=True,
                    code="print('vllm_patches.runtime.plugin' in sys.modules)")
    assert (proc.stdout.strip(), proc.stderr) == ("False", "")


def test_without_vllm_the_hook_says_nothing_and_reports_only_that_it_armed(tmp_path):
    site_dir, report = tmp_path / "site", tmp_path / "report.jsonl"
    site_dir.mkdir()
    hook("install", "--site", str(site_dir))
    proc = read_pth(site_dir, VLLM_PATCHES_REPORT=str(report), code=(
        "import importlib.util, json, email.message\n"
        "print(importlib.util.find_spec('vllm') is None)"
    ))
    assert (proc.stdout.strip(), proc.stderr) == ("True", "")
    (line,) = [json.loads(text) for text in report.read_text().splitlines()]
    assert (line["event"], line["via"], line["patches"]) == ("armed", "pth", "all")


def test_vllm_patches_none_keeps_the_pth_hook_unarmed(tmp_path):
    hook("install", "--site", str(tmp_path))
    proc = read_pth(tmp_path, VLLM_PATCHES="none", code=(
        "from vllm_patches.runtime import plugin\nprint(plugin.armed_by())"))
    assert proc.stdout.strip() == "()"


# In a real environment ---------------------------------------------------------------
@pytest.fixture
def venv(tmp_path):
    """A new virtual environment that also reads this interpreter's site-packages (where
    torch and vLLM's import deps are), even when this interpreter is itself a venv."""
    folder = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)],
                   check=True, capture_output=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "outer_site.pth").write_text("".join(
        f"import site; site.addsitedir({folder!r})\n" for folder in site.getsitepackages()))
    return python


def test_after_hook_install_a_plain_import_is_patched_and_after_uninstall_it_is_not(
        venv, release, plugin_site, synthetic_env):
    from tests.synthetic import METHOD, RELEASES

    tree = release(RELEASES[-1])  # the synthetic method wrap applies there

    def in_venv(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(venv), *args], env=python_env(plugin_site, tree),
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    def patched_after_plain_import() -> list[str]:
        out = in_venv(str(SCENARIOS / "steps.py"), "import", "check").stdout
        return json.loads(out.strip().splitlines()[-1])["checks"][0]

    in_venv("-m", "vllm_patches", "hook", "install")  # default: this venv's site-packages
    state = json.loads(in_venv("-m", "vllm_patches", "hook", "status", "--json").stdout)
    assert state["read_at_startup"] is True and state["armed_by"] == ["pth"]
    assert patched_after_plain_import() == [METHOD.id]

    in_venv("-m", "vllm_patches", "hook", "uninstall")
    assert patched_after_plain_import() == []

