"""``authoring.upstream_candidates``: the upstream tests that changed where a fix landed.

Two synthetic sdists in a local index (cached first, so nothing asks pip) show which files
count: new or changed test files whose text mentions a needle as a whole identifier, new
ones first. The releases a fingerprint survey implies come from synthetic observations; the
real one (``slow``) finds upstream's regression test for vllm#49391 in 0.27.0.
"""

from __future__ import annotations

import pytest
from packaging.version import Version

from tests.sdist_index import write_index
from vllm_patches.authoring.fingerprint import Observation, PatchDraft, WrapDraft, survey
from vllm_patches.authoring.upstream_candidates import (
    Candidate,
    Change,
    candidate_tests,
    needles_of,
    releases_around_fix,
)
from vllm_patches.core.files import CACHE_ENV
from vllm_patches.core.sdist import sdist_tests

BEFORE = {
    "tests/detok/test_old.py": "from vllm.detok import stop_check\n",
    "tests/test_changed.py": "import vllm.detok  # v1\n",
    "tests/test_untouched.py": "# detok\n",
}
AFTER = {
    "tests/detok/test_old.py": "from vllm.detok import stop_check\n",  # the same
    "tests/test_changed.py": "import vllm.detok  # v2\n",
    "tests/test_untouched.py": "# detok\n",
    "tests/detok/test_new.py": "from vllm.detok import stop_check\n",
    "tests/detok/new_test.py": "detok = 1\n",
    "tests/test_other.py": "stop_check_other()  # not the needle\n",
    "tests/detok/helpers.py": "stop_check\n",  # not a test file
    "tests/test_changed_elsewhere.py": "nothing to see\n",
}


@pytest.fixture
def cached(tmp_path, monkeypatch):
    """9.9.8 (BEFORE) and 9.9.9 (AFTER) in a cache in tmp_path."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    index = write_index(tmp_path / "index", {"9.9.8": BEFORE, "9.9.9": AFTER})
    for version in ("9.9.8", "9.9.9"):
        sdist_tests(version, indexes=[index])


def test_new_and_changed_test_files_that_mention_a_needle_new_first(cached):
    found = candidate_tests("9.9.8", "9.9.9", ["stop_check", "detok"])
    assert found == [
        Candidate("tests/detok/test_new.py", Change.NEW, ("stop_check", "detok")),
        Candidate("tests/detok/new_test.py", Change.NEW, ("detok",)),
        Candidate("tests/test_changed.py", Change.CHANGED, ("detok",)),
    ]
    assert found[0].to_dict() == {"path": "tests/detok/test_new.py", "change": "new",
                                  "needles": ["stop_check", "detok"]}


def test_nothing_is_a_candidate_between_a_release_and_itself(cached):
    assert candidate_tests("9.9.9", "9.9.9", ["stop_check", "detok"]) == []


def _wrap(module, class_name, name, index=0):
    return WrapDraft(0, index, module, class_name, name, (), (), {})


def test_the_needles_are_the_functions_and_the_modules_last_part():
    wraps = [_wrap("vllm.v1.engine.detokenizer", None, "check_stop_strings"),
             _wrap("vllm.v1.engine.detokenizer", "IncrementalDetokenizer", "__init__", 1),
             _wrap("vllm.sampling_params", "SamplingParams", "verify", 2)]
    assert needles_of(wraps) == ["check_stop_strings", "detokenizer", "IncrementalDetokenizer",
                                 "verify", "sampling_params"]


def _survey(shapes: dict[str, str], **kwargs):
    wrap = _wrap("vllm.x", None, "f")
    draft = PatchDraft("p", None, "", None, None, (wrap,), affected_todo=True)
    return survey(draft, [Observation(v, v, {"f": fp}, {}) for v, fp in shapes.items()],
                  **kwargs)


@pytest.mark.parametrize(("shapes", "fixed_in", "expected"), [
    ({"0.25.0": "a", "0.26.0": "a", "0.27.0": "b"}, "0.27.0", ("0.26.0", "0.27.0")),
    ({"0.25.0": "a", "0.28.0": "b"}, "0.27.0", ("0.25.0", "0.27.0")),  # the fix's release
    ({"0.25.0": "a", "0.26.0": "b"}, None, None),  # no fix release known: all pre-fix
    ({"0.27.0": "b", "0.28.0": "b"}, "0.27.0", None),  # no affected release surveyed
])
def test_the_releases_around_the_fix_come_from_the_survey(shapes, fixed_in, expected):
    result = _survey(shapes, fixed_in=Version(fixed_in) if fixed_in else None)
    assert releases_around_fix(result) == expected


@pytest.mark.slow
def test_the_real_stop_string_regression_test_is_new_in_0_27_0():
    """Upstream's test for vllm#49391, from the real sdists in the normal user cache."""
    found = candidate_tests("0.26.0", "0.27.0", ["check_stop_strings", "detokenizer"])
    assert found[0] == Candidate("tests/detokenizer/test_check_stop_strings.py", Change.NEW,
                                 ("check_stop_strings", "detokenizer"))
    assert all(c.path.startswith("tests/") and c.path.endswith(".py") for c in found)
