"""`vllm-patches catalog fingerprint`: the shapes of a patch's targets across real vLLM releases,
recorded in its patch.toml with the file's comments and layout kept.

A user catalogue is written in a temporary folder with `catalog new`, then fingerprinted over
cached releases; every fingerprint recorded must be what `class_prints` gives on the real
file. The built-in catalogue's recorded shapes are checked the same way, patch by patch.
"""

import json
import os
import shutil

import pytest

from tests.helpers import cli_runner, run_cli
from vllm_patches.core.catalog import builtin, catalog_dir, load_catalog, load_patch
from vllm_patches.core.shape import class_prints
from vllm_patches.core.sourcefile import read_source

FUNCTION = "vllm.v1.engine.detokenizer:check_stop_strings"  # fixed upstream in 0.27.0
METHOD = "vllm.v1.core.sched.scheduler:Scheduler.schedule"
RELEASES = ("0.25.0", "0.26.0", "0.27.0")  # 0.25.0..0.27.0 also holds 0.25.1


def shape_in(release, version, module, class_name, name):
    """The fingerprint of vLLM's ``name`` in a real release, or None when it lacks it."""
    path = release(version) / (module.replace(".", "/") + ".py")
    if not path.exists():
        return None
    return class_prints(read_source(path).text, class_name).methods.get(name)


def new(catalog, patch_id, *targets, release="0.26.0"):
    args = ["catalog", "new", patch_id, "--into", str(catalog), "--release", release]
    for target in targets:
        args += ["--function", target]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    return catalog / patch_id


def fingerprint(catalog, patch_id, *args):
    return run_cli("catalog", "fingerprint", patch_id, "--catalog", str(catalog), *args)


def test_the_shapes_recorded_are_what_class_prints_gives_on_the_real_files(tmp_path, release):
    folder = new(tmp_path, "my-fix", FUNCTION, METHOD)
    proc = fingerprint(tmp_path, "my-fix", "--releases", "0.25.0..0.27.0", "--fixed-in", "0.27.0",
                       "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [r["version"] for r in report["releases"]] == ["0.25.0", "0.25.1", "0.26.0", "0.27.0"]
    patch = load_patch(folder)  # what it wrote loads
    for target in patch.targets:
        for wrap in target.wraps:
            expected = {}
            for version in ("0.25.0", "0.25.1", "0.26.0", "0.27.0"):
                fp = shape_in(release, version, target.module, target.class_name, wrap.name)
                expected.setdefault(fp, []).append(version)
            assert {fp: list(v) for fp, v in wrap.seen.items()} == expected
            assert wrap.pre_fix == {fp for fp, vs in expected.items() if vs[0] != "0.27.0"}
            assert wrap.fixed_upstream == {fp for fp, vs in expected.items()
                                           if vs[0] == "0.27.0"}
    stop = next(t for t in patch.targets if t.class_name is None).wraps[0]
    assert stop.fixed_upstream  # vllm#49391 changed check_stop_strings in 0.27.0
    assert patch.affected_text == ">=0.25.0,<0.27.0"
    assert str(patch.applied_upstream) == "0.27.0"
    assert report["written"] is True and report["attention"] == []
    # A second run finds the file already says all this.
    again = fingerprint(tmp_path, "my-fix", "--releases", "0.25.0..0.27.0")
    assert again.returncode == 0 and "unchanged" in again.stdout


def test_a_fresh_patch_with_no_fingerprint_yet_is_filled_in(tmp_path, release):
    proc = run_cli("catalog", "new", "later", "--into", str(tmp_path), "--function", FUNCTION)
    assert proc.returncode == 0
    done = fingerprint(tmp_path, "later", "--releases", "0.26.0,0.27.0", "--fixed-in", "0.27.0")
    assert done.returncode == 0, done.stderr
    patch = load_patch(tmp_path / "later")
    wrap = patch.targets[0].wraps[0]
    before = shape_in(release, "0.26.0", "vllm.v1.engine.detokenizer", None, "check_stop_strings")
    after = shape_in(release, "0.27.0", "vllm.v1.engine.detokenizer", None, "check_stop_strings")
    assert (wrap.pre_fix, wrap.fixed_upstream) == ({before}, {after})
    assert patch.affected_text == ">=0.26.0,<0.27.0"
    text = (tmp_path / "later" / "patch.toml").read_text()
    assert 'applied-upstream = "0.27.0"' in text and '# applied-upstream = "TODO"' not in text
    assert f'pre-fix = ["{before}"]  # 0.26.0' in text  # the TODO comment became the releases


def test_the_table_shows_each_release_and_where_the_shape_changes(tmp_path):
    new(tmp_path, "table", FUNCTION)
    proc = fingerprint(tmp_path, "table", "--releases", "0.26.0,0.27.0", "--fixed-in", "0.27.0")
    lines = proc.stdout.splitlines()
    assert lines[2].split() == ["RELEASE", "check_stop_strings", "SHAPE", "CHANGE"]
    assert lines[3].split()[0::2] == ["0.26.0", "pre-fix"]
    assert lines[4].split()[0::2] == ["0.27.0", "fixed", "changes"]


def test_without_a_fix_release_every_shape_is_pre_fix_and_the_change_is_said(tmp_path):
    folder = new(tmp_path, "unsure", FUNCTION)
    proc = fingerprint(tmp_path, "unsure", "--releases", "0.26.0,0.27.0")
    assert proc.returncode == 0
    assert "every shape from the bug on is recorded as pre-fix" in proc.stdout
    assert "check_stop_strings changes at 0.27.0" in proc.stdout
    assert "--fixed-in RELEASE" in proc.stdout
    wrap = load_patch(folder).targets[0].wraps[0]
    assert len(wrap.pre_fix) == 2 and not wrap.fixed_upstream


def test_the_upstream_tests_that_changed_where_the_fix_landed_are_listed(tmp_path):
    """Between the last affected release's sdist and the fix's: upstream's regression test
    for vllm#49391 is new in 0.27.0 and mentions check_stop_strings (the real sdists, in the
    user cache)."""
    new(tmp_path, "stop", FUNCTION)
    proc = fingerprint(tmp_path, "stop", "--releases", "0.26.0,0.27.0", "--fixed-in", "0.27.0",
                       "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    upstream = json.loads(proc.stdout)["upstream_test_candidates"]
    assert {k: upstream[k] for k in ("last_affected", "first_fixed", "needles", "error")} == {
        "last_affected": "0.26.0", "first_fixed": "0.27.0",
        "needles": ["check_stop_strings", "detokenizer"], "error": None}
    assert upstream["tests"][0] == {"path": "tests/detokenizer/test_check_stop_strings.py",
                                    "change": "new",
                                    "needles": ["check_stop_strings", "detokenizer"]}
    text = fingerprint(tmp_path, "stop", "--releases", "0.26.0,0.27.0", "--fixed-in", "0.27.0",
                       "--dry-run").stdout.splitlines()
    heading = text.index("upstream tests that changed in 0.27.0 (since 0.26.0) and mention "
                         "check_stop_strings or detokenizer:")
    assert text[heading + 1].split() == ["NEW", "tests/detokenizer/test_check_stop_strings.py",
                                         "(check_stop_strings,", "detokenizer)"]
    unsure = fingerprint(tmp_path, "stop", "--releases", "0.26.0,0.27.0", "--dry-run", "--json")
    assert json.loads(unsure.stdout)["upstream_test_candidates"] is None  # no fix release


def test_a_sdist_that_cannot_be_had_is_one_warning_not_a_failure(tmp_path, monkeypatch):
    from vllm_patches.authoring import upstream_candidates
    from vllm_patches.cli.main import cli
    from vllm_patches.core.catalog_files import CATALOG_ENV
    from vllm_patches.core.sdist import SdistError

    new(tmp_path, "offline", FUNCTION)
    monkeypatch.setenv(CATALOG_ENV, "")  # --catalog sets it in this process: undone after

    def away(version, **kwargs):
        raise SdistError(f"None of the package indexes asked has vLLM {version}'s sdist.")

    monkeypatch.setattr(upstream_candidates, "sdist_tests", away)
    args = ["catalog", "fingerprint", "offline", "--catalog", str(tmp_path), "--releases",
            "0.26.0,0.27.0", "--fixed-in", "0.27.0", "--dry-run"]
    result = cli_runner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "vllm-patches: warning: upstream tests not listed, none of the package indexes asked "
        "has vLLM 0.26.0's sdist."]
    upstream = json.loads(result.stdout)["upstream_test_candidates"]
    assert upstream["tests"] is None and "0.26.0" in upstream["error"]
    assert "upstream tests" not in cli_runner().invoke(cli, args).stdout


def test_the_authors_comments_and_layout_are_kept(tmp_path, release):
    folder = new(tmp_path, "commented", FUNCTION)
    toml = folder / "patch.toml"
    text = toml.read_text()
    text = text.replace('fix = "fix.py"', 'fix = "fix.py"   # my own fix, reviewed by A. N. Other')
    text = text.replace("[[targets]]", "# The one function vllm#49391 changes.\n[[targets]]")
    text = text.replace("  # 0.26.0\n", "  # checked by hand against 0.26.0 on a Tuesday\n")
    toml.write_text(text)
    assert fingerprint(tmp_path, "commented", "--releases", "0.25.0,0.26.0").returncode == 0
    after = toml.read_text()
    for kept in ('fix = "fix.py"   # my own fix, reviewed by A. N. Other',
                 "# The one function vllm#49391 changes.\n[[targets]]",
                 "# checked by hand against 0.26.0 on a Tuesday",
                 "# One catalogued fix. Fields follow DEP-3 where DEP-3 has one.",
                 'why = "TODO: the bug and its effect"'):
        assert kept in after
    changed = [line for line in after.splitlines() if line not in text.splitlines()]
    fp = shape_in(release, "0.26.0", "vllm.v1.engine.detokenizer", None, "check_stop_strings")
    assert changed == ['affected = ">=0.25.0"', f'{fp} = ["0.25.0", "0.26.0"]']


def test_code_older_than_the_bug_is_left_out(tmp_path, release):
    """The reload patch is for the cache 0.23.0 added: 0.21.0-0.22.1's load_weights is the
    code before that bug, not its pre-fix shape, and is not recorded."""
    catalog = tmp_path / "patches"
    for name in ("gemma4-mtp-lm-head-reload", "gemma4-mtp-stable-lm-head"):  # fix-from
        shutil.copytree(catalog_dir() / name, catalog / name)
    proc = fingerprint(catalog, "gemma4-mtp-lm-head-reload", "--releases", "0.22.1,0.23.0",
                       "--json")
    report = json.loads(proc.stdout)
    old = shape_in(release, "0.22.1", "vllm.model_executor.models.gemma4_mtp", "Gemma4MTP",
                   "load_weights")
    shapes = {r["version"]: r["wraps"]["Gemma4MTP.load_weights"]["shape"]
              for r in report["releases"]}
    assert shapes == {"0.22.1": "earlier", "0.23.0": "pre-fix"}
    assert any(f"{old} (0.22.1) is older than the bug" in n for n in report["notes"])
    patch = load_patch(catalog / "gemma4-mtp-lm-head-reload")
    assert old not in patch.targets[0].wraps[0].pre_fix and patch.affected_text == ">=0.23.0"


def test_a_fork_tree_is_fingerprinted_under_its_own_version(tmp_path, tree_copy):
    folder = new(tmp_path, "forked", FUNCTION)
    tree = tree_copy("0.26.0")
    module = tree / "vllm/v1/engine/detokenizer.py"
    module.write_text(module.read_text().replace(
        "def check_stop_strings(", "def check_stop_strings(  # acme: traced\n", 1).replace(
        "    if not new_char_count or not stop:\n",
        "    acme_trace(stop)\n    if not new_char_count or not stop:\n", 1))
    proc = fingerprint(tmp_path, "forked", "--target", str(tree), "--vllm-version", "0.26.0+acme")
    assert proc.returncode == 0, proc.stderr
    wrap = load_patch(folder).targets[0].wraps[0]
    forked = class_prints(read_source(module).text, None).methods["check_stop_strings"]
    assert forked in wrap.pre_fix and wrap.seen[forked] == ("0.26.0+acme",)


@pytest.mark.parametrize("args, says", [
    (["--releases", "0.99.0"], "vLLM 0.99.0 is not on PyPI"),
    (["--releases", "0.40.0..0.45.0"], "No vLLM release on PyPI lies in 0.40.0..0.45.0"),
    (["--releases", "0.27.0..0.25.0"], "ends before it starts"),
    (["--releases", "latest"], "is not a list of vLLM releases"),
    (["--releases", "0.26.0", "--fixed-in", "soon"], "--fixed-in 'soon' is not a vLLM release"),
    ([], "Give --releases RANGE|LIST or --target DIR"),
    (["--releases", "0.26.0", "--target", "."], "Give --releases RANGE|LIST or --target DIR"),
])
def test_bad_input_is_one_sentence_and_writes_nothing(tmp_path, args, says):
    folder = new(tmp_path, "mine", FUNCTION)
    before = (folder / "patch.toml").read_bytes()
    proc = fingerprint(tmp_path, "mine", *args)
    assert proc.returncode == 2
    *progress, sentence = proc.stderr.strip().splitlines()  # "fetching 0.99.0..." first
    assert sentence.startswith("vllm-patches: ") and says in sentence
    assert all(line.startswith("fetching ") for line in progress)
    assert "Traceback" not in proc.stderr
    assert (folder / "patch.toml").read_bytes() == before


def test_an_unknown_patch_is_one_sentence(tmp_path):
    proc = fingerprint(tmp_path, "nope", "--releases", "0.26.0")
    assert proc.returncode == 2 and "Unknown patch id 'nope'" in proc.stderr


BUILTIN = [p.id for p in load_catalog() if builtin(p)]
CHECKED = ("0.20.2", "0.21.0", "0.22.1", "0.23.0", "0.26.0", "0.27.0", "0.33.0")


@pytest.mark.parametrize("patch_id", BUILTIN)
def test_the_builtin_seen_tables_hold_the_real_shapes(release, patch_id):
    """Each recorded release (of those the suite reads) has the fingerprint recorded for it,
    and every release in a seen table is a pre-fix or fixed-upstream shape's."""
    patch = next(p for p in load_catalog() if p.id == patch_id)
    for target in patch.targets:
        for wrap in target.wraps:
            assert wrap.seen, f"{patch_id}: {wrap.name} has no seen table"
            for fp, versions in wrap.seen.items():
                assert fp in wrap.pre_fix | wrap.fixed_upstream
                for version in set(versions) & set(CHECKED):
                    assert shape_in(release, version, target.module, target.class_name,
                                    wrap.name) == fp, (patch_id, wrap.name, version)


@pytest.mark.parametrize("patch_id", BUILTIN)
def test_fingerprinting_a_builtin_patch_again_changes_nothing(tmp_path, patch_id):
    catalog = tmp_path / "patches"
    shutil.copytree(catalog_dir(), catalog)
    before = (catalog / patch_id / "patch.toml").read_bytes()
    proc = fingerprint(catalog, patch_id, "--releases", ",".join(CHECKED), "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "already records this" in proc.stdout
    assert (catalog / patch_id / "patch.toml").read_bytes() == before


def test_a_release_that_cannot_be_fetched_is_said_and_the_rest_recorded(tmp_path, monkeypatch):
    """Progress goes to stderr as each release is fetched; one whose wheel cannot be had
    (yanked, or the index is away) is said, not fatal: the others are recorded, exit 1."""
    from vllm_patches.cli.main import cli
    from vllm_patches.core import releases
    from vllm_patches.core.catalog_files import CATALOG_ENV

    folder = new(tmp_path, "partial", FUNCTION)
    monkeypatch.setenv(CATALOG_ENV, "")  # --catalog sets it in this process: undone after
    real = releases.release_tree

    def fetch(version, **kwargs):
        if version == "0.25.0":
            raise releases.ReleaseError(f"Could not download the vLLM {version} wheel with pip.")
        return real(version, **kwargs)

    monkeypatch.setattr(releases, "release_tree", fetch)
    monkeypatch.setattr(releases, "is_cached", lambda version: version == "0.26.0")
    result = cli_runner().invoke(cli, ["catalog", "fingerprint", "partial", "--catalog",
                                      str(tmp_path), "--releases", "0.25.0,0.26.0"])
    assert result.exit_code == 1
    assert "fetching 0.25.0 (1/2)..." in result.stderr
    assert "fetching 0.26.0" not in result.stderr  # cached: nothing to say
    assert "0.25.0 could not be fetched; going on without it" in result.stderr
    assert "Not surveyed: 0.25.0 (its wheel could not be downloaded)" in result.stderr
    assert list(load_patch(folder).targets[0].wraps[0].seen.values()) == [("0.26.0",)]


@pytest.mark.parametrize("plant", ["fifo", "dev-zero"])
def test_a_planted_patch_toml_is_one_sentence_not_a_hang(tmp_path, plant):
    """patch.toml is a catalogue file: read as a plain file, bounded, never blocking."""
    (tmp_path / "mine").mkdir()
    path = tmp_path / "mine" / "patch.toml"
    if plant == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    proc = fingerprint(tmp_path, "mine", "--releases", "0.26.0")
    assert proc.returncode == 2, proc.stderr
    (sentence,) = proc.stderr.strip().splitlines()
    assert sentence.startswith("vllm-patches: ") and str(path) in sentence
    assert "Traceback" not in proc.stderr
