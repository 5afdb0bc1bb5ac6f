"""`vllm-patches catalog new`: a new patch folder that loads, wraps vLLM's real code and changes
nothing until its author writes the fix.

Every test writes a user catalogue into a temporary folder with the real command line, for
targets read from real vLLM releases (the release cache): a module-level function, methods,
a classmethod, a staticmethod, a property, an async method and an async generator.
"""

import ast
import json

import pytest

from tests.helpers import run_cli, run_python
from vllm_patches.core.catalog import CatalogError, Kind, load_patch
from vllm_patches.core.shape import class_prints
from vllm_patches.core.sourcefile import read_source

RELEASE = "0.26.0"
FUNCTION = "vllm.v1.engine.detokenizer:check_stop_strings"
METHOD = "vllm.v1.core.sched.scheduler:Scheduler.schedule"
# One target of each kind a wrapper can have, with the kind vLLM 0.26.0 gives it.
KINDS = {
    FUNCTION: Kind.FUNCTION,
    METHOD: Kind.METHOD,
    "vllm.sampling_params:SamplingParams._validate_structured_outputs": Kind.METHOD,
    "vllm.v1.engine.detokenizer:IncrementalDetokenizer.from_new_request": Kind.CLASSMETHOD,
    "vllm.sampling_params:SamplingParams.from_optional": Kind.STATICMETHOD,
    "vllm.sampling_params:SamplingParams.all_stop_token_ids": Kind.PROPERTY,
    "vllm.v1.engine.async_llm:AsyncLLM.add_request": Kind.METHOD,  # async
    "vllm.v1.engine.async_llm:AsyncLLM.generate": Kind.METHOD,  # an async generator
}


def new(catalog, patch_id, *targets, release=RELEASE, extra=()):
    args = ["catalog", "new", patch_id, "--into", str(catalog)]
    for target in targets:
        args += ["--function", target]
    if release:
        args += ["--release", release]
    return run_cli(*args, *extra)


def split(spec):
    module, _, rest = spec.partition(":")
    class_name, _, name = rest.rpartition(".")
    return module, class_name or None, name


def vllm_definition(release, spec, version=RELEASE):
    """vLLM's own definition of ``spec`` in a real release, and its fingerprint."""
    module, class_name, name = split(spec)
    text = read_source(release(version) / (module.replace(".", "/") + ".py")).text
    prints = class_prints(text, class_name)
    return prints.nodes[name], prints.methods[name]


def fix_definition(folder, spec):
    _, class_name, name = split(spec)
    return class_prints((folder / "fix.py").read_text(), class_name).nodes[name]


def test_new_writes_a_patch_that_loads_at_once_with_vllms_fingerprint(tmp_path, release):
    proc = new(tmp_path, "my-fix", FUNCTION, extra=["--pr", "49391"])
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "my-fix"
    assert sorted(p.name for p in folder.iterdir()) == ["check.py", "fix.py", "patch.toml"]
    patch = load_patch(folder)  # loads as it is: pre-fix and affected are filled in
    _, fingerprint = vllm_definition(release, FUNCTION)
    wrap = patch.targets[0].wraps[0]
    assert (patch.targets[0].module, patch.targets[0].class_name) == (
        "vllm.v1.engine.detokenizer", None)
    assert (wrap.name, wrap.kind, wrap.pre_fix) == (
        "check_stop_strings", Kind.FUNCTION, frozenset({fingerprint}))
    assert wrap.seen == {fingerprint: (RELEASE,)}
    assert patch.affected_text == f"=={RELEASE}"
    assert patch.upstream_pr == "vllm-project/vllm#49391"
    assert patch.origin == patch.bug == "https://github.com/vllm-project/vllm/pull/49391"
    assert patch.title.startswith("TODO")
    assert patch.unfinished() == ["why", "how", "drop-when"]  # TODO placeholders to write
    assert "The patch loads now" in proc.stdout


@pytest.mark.parametrize("spec", list(KINDS))
def test_each_wrapper_has_vllms_kind_and_signature_and_calls_the_original(tmp_path, release,
                                                                           spec):
    assert new(tmp_path, "wrap", spec).returncode == 0
    original, _ = vllm_definition(release, spec)
    wrapper = fix_definition(tmp_path / "wrap", spec)
    in_class = split(spec)[1] is not None
    assert Kind.of(wrapper, in_class) == Kind.of(original, in_class) == KINDS[spec]
    assert ast.dump(wrapper.args) == ast.dump(original.args)  # same parameters and defaults
    assert ast.dump(wrapper.returns) == ast.dump(original.returns)
    assert type(wrapper) is type(original)  # async stays async
    called = {n.attr if isinstance(n, ast.Attribute) else n.id for n in ast.walk(wrapper)
              if isinstance(n, (ast.Attribute, ast.Name))}
    assert f"_vllm_patches_orig_{split(spec)[2]}" in called


def test_without_a_release_the_wrappers_pass_everything_on_and_the_loader_says_what_to_run(
        tmp_path):
    proc = new(tmp_path, "later", FUNCTION, METHOD, release=None)
    assert proc.returncode == 0, proc.stderr
    fix = (tmp_path / "later" / "fix.py").read_text()
    assert "def check_stop_strings(*args, **kwargs):" in fix
    assert "return _vllm_patches_orig_check_stop_strings(*args, **kwargs)" in fix
    assert "def schedule(self, *args, **kwargs):" in fix
    assert "return self._vllm_patches_orig_schedule(*args, **kwargs)" in fix
    with pytest.raises(CatalogError) as caught:
        load_patch(tmp_path / "later")
    assert f"run vllm-patches catalog fingerprint later --catalog {tmp_path}" in str(caught.value)
    assert "It loads once it is fingerprinted" in proc.stdout


def test_the_pure_wrapper_applies_in_source_and_reverts_byte_for_byte(tmp_path, tree_copy):
    """The fix.py `new` writes is a real fix that changes nothing: apply writes it into a copy
    of the release (a function and a method target), revert gives every byte back."""
    assert new(tmp_path, "pure", FUNCTION, METHOD).returncode == 0
    tree = tree_copy(RELEASE)
    files = ["vllm/v1/engine/detokenizer.py", "vllm/v1/core/sched/scheduler.py"]
    before = {f: (tree / f).read_bytes() for f in files}
    catalog = ["--catalog", str(tmp_path)]
    applied = run_cli("apply", "pure", *catalog, "--target", str(tree))
    assert applied.returncode == 0, applied.stderr
    assert all((tree / f).read_bytes() != before[f] for f in files)
    status = run_cli("status", "pure", *catalog, "--target", str(tree), "--json")
    assert json.loads(status.stdout)["patches"][0]["state"] == "applied"
    reverted = run_cli("revert", "pure", *catalog, "--target", str(tree))
    assert reverted.returncode == 0, reverted.stderr
    assert {f: (tree / f).read_bytes() for f in files} == before


def test_the_pure_wrapper_at_run_time_gives_vllms_own_results(tmp_path, release):
    assert new(tmp_path, "pure", FUNCTION).returncode == 0
    code = (
        "import json\n"
        "import vllm_patches\n"
        "from vllm.v1.engine import detokenizer as d\n"
        "text, stop = 'The answer is 42.\\nUser: thanks', ['User:', '\\n']\n"
        "before = d.check_stop_strings(text, len(text), stop, False)\n"
        "outcomes = [o.outcome for o in vllm_patches.apply(['pure'])]\n"
        "after = d.check_stop_strings(text, len(text), stop, False)\n"
        "print(json.dumps({'outcomes': outcomes, 'same': before == after,\n"
        "                  'wrapped': d.check_stop_strings.__name__,\n"
        "                  'original_kept': hasattr(d, '_vllm_patches_orig_check_stop_strings')}))\n"
    )
    proc = run_python(["-c", code], release(RELEASE), VLLM_PATCHES_CATALOG=str(tmp_path))
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen == {"outcomes": ["applied"], "same": True, "wrapped": "check_stop_strings",
                    "original_kept": True}


def test_verify_cannot_pass_the_check_skeleton(tmp_path):
    assert new(tmp_path, "unchecked", FUNCTION).returncode == 0
    proc = run_cli("verify", "unchecked", "--catalog", str(tmp_path), "--release", RELEASE)
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout and "NotImplementedError" in proc.stdout
    assert "still the skeleton vllm-patches catalog new wrote" in proc.stdout


def test_the_check_written_is_python_on_the_kit(tmp_path):
    assert new(tmp_path, "kit-check", METHOD).returncode == 0
    path = tmp_path / "kit-check" / "check.py"
    tree = ast.parse(path.read_text())  # valid Python
    assert any(isinstance(node, ast.ImportFrom) and node.module == "vllm_patches.verify"
               and [a.name for a in node.names] == ["kit"] for node in tree.body)
    run = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run")
    assert ast.unparse(run.returns) == "kit.Finding"
    # Loaded as the runner loads it (vLLM is imported inside run(), so not here): the kit
    # resolves, and the skeleton's run() still refuses to pass for a check.
    proc = run_python(["-c", "import importlib.util, sys\n"
                       f"spec = importlib.util.spec_from_file_location('c', {str(path)!r})\n"
                       "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
                       "print(m.kit.__name__, m.DEVICE)\n"
                       "try:\n    m.run()\nexcept NotImplementedError:\n    print('skeleton')"])
    assert proc.stdout.split() == ["vllm_patches.verify.kit", "cpu", "skeleton"]


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("args, says", [
    (["stop-string-earliest-match", "--function", FUNCTION],
     "A patch with id stop-string-earliest-match already exists"),
    (["taken", "--function", FUNCTION], "already exists; choose another id"),
    (["My_Fix", "--function", FUNCTION], "is not a catalogue id"),
    (["double--dash", "--function", FUNCTION], "is not a catalogue id"),
    (["bad-target", "--function", "vllm.v1.engine.detokenizer.check_stop_strings"],
     "is not vllm.module:Class.method or vllm.module:function"),
    (["bad-target", "--function", "torch.nn:Module.forward"], "is not vllm.module:Class.method"),
    (["bad-target", "--function", "vllm.x:A.B.c"], "is not vllm.module:Class.method"),
    (["twice", "--function", FUNCTION, "--function", FUNCTION], "is given twice"),
    (["bad-pr", "--function", FUNCTION, "--pr", "soon"], "is not a vLLM pull request"),
    (["both", "--function", FUNCTION, "--release", RELEASE, "--vllm", "."],
     "Give --release or --vllm, not both"),
    (["unknown-release", "--function", FUNCTION, "--release", "0.99.0"],
     "Could not download the vLLM 0.99.0 wheel"),
    (["bad-release", "--function", FUNCTION, "--release", "not-a-version"],
     "is not a vLLM release version"),
    (["setter", "--function", "vllm.parser.abstract_parser:Parser.tool_parser", "--release",
      RELEASE], "is a property setter in vLLM"),
    (["cached", "--function", "vllm.config.model:ModelConfig.is_mm_prefix_lm", "--release",
      RELEASE], "is a cached_property in vLLM"),
])
def test_bad_input_is_one_sentence_and_writes_nothing(tmp_path, args, says):
    catalog = tmp_path / "mine"
    (catalog / "taken").mkdir(parents=True)
    listing = _listing(catalog)
    proc = run_cli("catalog", "new", *args, "--into", str(catalog))
    assert proc.returncode == 2
    *progress, sentence = proc.stderr.strip().splitlines()  # "fetching 0.99.0..." first
    assert sentence.startswith("vllm-patches: ") and says in sentence
    assert all(line.startswith("fetching ") for line in progress)
    assert "Traceback" not in proc.stderr
    assert _listing(catalog) == listing and proc.stdout == ""


def test_a_release_that_lacks_the_target_writes_a_todo_and_exits_1(tmp_path):
    proc = new(tmp_path, "too-early", "vllm.model_executor.models.gemma4_mtp:Gemma4MTP.load_weights",
               release="0.20.2")
    assert proc.returncode == 1
    assert "vLLM 0.20.2 has no module vllm.model_executor.models.gemma4_mtp" in proc.stdout
    assert "def load_weights(self, *args, **kwargs):" in (tmp_path / "too-early" / "fix.py").read_text()
    with pytest.raises(CatalogError, match="run vllm-patches catalog fingerprint too-early"):
        load_patch(tmp_path / "too-early")


def test_the_old_spellings_write_the_same_patch_with_a_notice_each(tmp_path):
    """``--target`` (now ``--function``) and ``--catalog`` (now ``--into``) work for one
    release: the same folder, one line on stderr for each, the same exit code."""
    new = run_cli("catalog", "new", "mine", "--into", str(tmp_path / "a"), "--function", METHOD)
    old = run_cli("catalog", "new", "mine", "--catalog", str(tmp_path / "b"), "--target", METHOD)
    assert new.returncode == old.returncode == 0, old.stderr
    assert "deprecated" not in new.stderr
    for name in ("patch.toml", "fix.py", "check.py"):
        old_text = (tmp_path / "b" / "mine" / name).read_text()  # names its catalogue
        assert ((tmp_path / "a" / "mine" / name).read_text()
                == old_text.replace(str(tmp_path / "b"), str(tmp_path / "a")))
    assert [line for line in old.stderr.splitlines() if "deprecated" in line] == [
        "vllm-patches: warning: catalog new --catalog is deprecated and goes in the next "
        "release; use --into.",
        "vllm-patches: warning: catalog new --target is deprecated and goes in the next "
        "release; use --function."]


@pytest.mark.parametrize("args, says", [
    (["--function", METHOD], "catalog new needs --into DIR"),
    (["--into", "x", "--catalog", "y", "--function", METHOD], "Give --into only"),
])
def test_where_to_write_is_asked_once(args, says):
    proc = run_cli("catalog", "new", "mine", *args)
    assert proc.returncode == 2 and says in proc.stderr.splitlines()[-1]
    assert "Traceback" not in proc.stderr
