"""``verify.kit``: what a check needs besides its bug. The tiny model is read by transformers
and by a real vLLM release, ``attempt`` tells a real vLLM call's acceptance from its
refusal, and the runner takes a ``Finding`` or a dict from ``run()`` and refuses anything
else with one sentence."""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.helpers import run_python
from vllm_patches.core.words import Arm
from vllm_patches.verify import check_arm, kit
from vllm_patches.verify.kit import stand_ins

RELEASE = "0.26.0"  # one release of the catalogue's range; the kit's calls are the same on all


def test_the_tiny_model_is_what_transformers_reads_and_its_sizes_are_the_ones_it_says(tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    model = kit.write_tiny_model(tmp_path / "m", weights=False, vocab_smaller_by=2)
    assert AutoConfig.from_pretrained(model.path).vocab_size == model.vocab_size
    assert len(AutoTokenizer.from_pretrained(model.path)) == model.tokenizer_size
    assert model.tokenizer_size - model.vocab_size == 2
    assert not (model.path / "model.safetensors").exists()


def test_the_servable_tiny_model_has_weights_as_wide_as_its_vocabulary(tmp_path):
    from safetensors import safe_open

    model = kit.write_tiny_model(tmp_path / "m")
    with safe_open(str(model.path / "model.safetensors"), "pt") as weights:
        assert weights.get_slice("lm_head.weight").get_shape() == [model.vocab_size, 128]


def test_a_temporary_tiny_model_is_removed_after_and_leaves_the_process_offline(monkeypatch):
    for name in kit.OFFLINE:
        # setenv first, so that monkeypatch puts the worker's own environment back after
        # (the kit sets these in this process; a later test's child processes, such as the
        # preload server's jobs, must not inherit them).
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    with kit.tiny_model() as model:
        assert (model.path / "config.json").is_file()
    assert not model.path.exists()
    assert all(os.environ[name] == "1" for name in kit.OFFLINE)


# On a real vLLM release, in a process of its own ------------------------------------------
ON_VLLM = '''
import json
from vllm_patches.verify import kit
from vllm.sampling_params import SamplingParams
from vllm.tokenizers import cached_tokenizer_from_config

with kit.tiny_model(vocab_smaller_by=2) as model:
    config = kit.model_config(model)
    sizes = [config.get_vocab_size(), len(cached_tokenizer_from_config(config))]
taken, refused = kit.attempt(SamplingParams, max_tokens=4), kit.attempt(SamplingParams,
                                                                        temperature=-1.0)
print(json.dumps({"sizes": sizes, "want": [model.vocab_size, model.tokenizer_size],
                  "taken": [taken.accepted, type(taken.value).__name__],
                  "refused": [refused.accepted, refused.error.__name__, refused.message,
                              str(refused)]}))
'''


def test_vllm_reads_the_tiny_model_and_attempt_tells_accepted_from_rejected(release):
    proc = run_python(["-c", ON_VLLM], release(RELEASE), preload=True)
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["sizes"] == seen["want"]
    assert seen["taken"] == [True, "SamplingParams"]
    accepted, error, message, said = seen["refused"]
    assert accepted is False and error in ("ValueError", "VLLMValidationError")
    assert "temperature" in message and said == f"rejected ({error}: {message})"


def test_an_error_that_is_not_a_refusal_is_not_taken_for_one():
    with pytest.raises(ZeroDivisionError):
        kit.attempt(lambda: 1 / 0)
    assert kit.attempt(int, "x", rejects=(ValueError,)).error is ValueError


def test_in_child_says_how_code_that_would_crash_this_process_ends():
    assert kit.in_child("print(1)") == "returned"
    assert kit.in_child("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)") \
        == "killed by SIGSEGV"
    assert kit.in_child("raise ValueError('no')").startswith("raised (exit 1): ValueError: no")


# The runner's boundary ---------------------------------------------------------------------
@pytest.fixture
def checks(tmp_path):
    """``checks(body)`` -> the path of a check.py whose run() is ``body``; no stand-in left
    behind after the test."""
    count = iter(range(100))

    def write(body: str):
        path = tmp_path / f"check{next(count)}.py"
        path.write_text(f"from vllm_patches.verify import kit\n\ndef run():\n    {body}\n")
        return str(path)

    yield write
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, stand_ins._Finder)]
    stand_ins.asked_since_last()


@pytest.mark.parametrize("body, bug, detail", [
    ("return kit.Finding(True, 'shown')", True, "shown"),
    ("return {'bug': False, 'detail': 'a dict, as before the kit'}", False,
     "a dict, as before the kit"),
])
def test_the_runner_takes_a_finding_or_a_dict(checks, body, bug, detail):
    line, clean = check_arm.run_check(Arm.CONTROL, "p", checks(body))
    assert (line.get("bug"), line.get("detail"), clean) == (bug, detail, True), line


@pytest.mark.parametrize("body, says", [
    ("return 'yes'", "returned 'yes'; a check must return kit.Finding(bug, detail) or a dict "
                     "with a bool 'bug' and a 'detail'."),
    ("return {'bug': 'no'}", "returned {'bug': 'no'}; a check must return"),
    ("return None", "returned None; a check must return"),
    ("return kit.Finding(1, 'one')", "A Finding's bug must be True or False, not 1."),
])
def test_the_runner_refuses_anything_else_with_one_sentence(checks, body, says):
    path = checks(body)
    line, _ = check_arm.run_check(Arm.CONTROL, "p", path)
    assert "bug" not in line and line["error"].startswith("BadFinding: "), line
    assert says in line["error"]
    assert line["error"].count(". ") == 0  # one sentence


def test_the_stand_ins_a_check_asked_for_end_its_detail_and_only_its_own(checks):
    asks = checks("kit.stand_in_for_missing(('vllm_patches_absent_k',))\n"
                  "    return kit.Finding(True, 'seen')")
    line, _ = check_arm.run_check(Arm.CONTROL, "p", asks)
    assert line["detail"] == "seen (stand-ins for vllm_patches_absent_k)"
    line, _ = check_arm.run_check(Arm.CONTROL, "q", checks("return kit.Finding(True, 'next')"))
    assert line["detail"] == "next"


def test_the_old_stand_ins_module_still_works_and_says_where_it_went():
    proc = run_python(["-c", "from vllm_patches.verify.stand_ins import stand_in_for_missing"
                       " as old\nfrom vllm_patches.verify.kit import stand_in_for_missing as new"
                       "\nassert old is new"])
    assert proc.stderr.strip().splitlines() == [
        "vllm-patches: vllm_patches.verify.stand_ins is deprecated and goes in the next "
        "release; import stand_in_for_missing from vllm_patches.verify.kit."]


def test_the_kit_imports_no_vllm_although_it_is_there(release):
    proc = run_python(["-c", "import sys, vllm_patches.verify.kit, importlib.util\n"
                       "assert importlib.util.find_spec('vllm')\n"
                       "print(sorted(m for m in sys.modules if m.split('.')[0] == 'vllm'))"],
                      release(RELEASE))
    assert proc.stdout.strip() == "[]"
