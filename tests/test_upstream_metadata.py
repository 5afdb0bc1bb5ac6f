"""``[upstream-tests]`` in patch.toml: read, checked, and declared by every built-in patch."""

from __future__ import annotations

import re

import pytest
from packaging.version import Version

from tests.catalogues import write_patch
from vllm_patches.core.catalog import CatalogError, load_catalog, load_patch


def written(tmp_path, table: dict):
    return write_patch(tmp_path, "up", name="round_up", fix="def round_up(x, y):\n    return x\n",
                       pre_fix=["0123456789abcdef"], upstream_tests=table)


def test_the_table_is_read_with_its_release_and_tests(tmp_path):
    patch = load_patch(written(tmp_path, {
        "release": "0.27.0", "regression": ["tests/detokenizer/test_a.py::test_b[x-1]"],
        "module": ["tests/test_sampling_params.py"]}))
    declared = patch.upstream_tests
    assert declared.release == Version("0.27.0") and declared.none is None
    assert declared.regression == ("tests/detokenizer/test_a.py::test_b[x-1]",)
    assert declared.module == ("tests/test_sampling_params.py",)
    assert patch.to_dict()["upstream_tests"]["release"] == "0.27.0"


def test_a_patch_may_say_why_it_has_no_regression_test(tmp_path):
    patch = load_patch(written(tmp_path, {"none": "Upstream added  no test.",
                                          "module": ["tests/v1/test_x.py"]}))
    assert patch.upstream_tests.none == "Upstream added no test."
    assert patch.upstream_tests.regression == () and patch.upstream_tests.release is None


def test_without_the_table_the_patch_says_nothing(tmp_path):
    assert load_patch(written(tmp_path, {})).upstream_tests is None


@pytest.mark.parametrize("table, problem", [
    ({"release": "0.27.0", "regression": ["../etc/passwd.py"]}, "must list tests/<path>.py"),
    ({"release": "0.27.0", "regression": ["/abs/tests/test_a.py"]}, "must list tests/"),
    ({"release": "0.27.0", "regression": ["tests/../../x/test_a.py"]}, "must list tests/"),
    ({"release": "0.27.0", "regression": ["tests/test_a.txt"]}, "must list tests/"),
    ({"none": "why", "module": ["src/test_a.py"]}, "must list tests/"),
    ({"regression": ["tests/test_a.py"]}, "upstream-tests.release' is required with regression"),
    ({"release": "0.27.0", "regression": ["tests/test_a.py"], "none": "why"}, "not both"),
    ({"module": ["tests/test_a.py"]}, "or none (why there is no regression test) is required"),
    ({"none": "why", "tests": ["tests/test_a.py"]},
     "upstream-tests.tests' is not a field of [upstream-tests]"),
    ({"release": "zero", "regression": ["tests/test_a.py"]}, "not a PEP 440 version"),
])
def test_a_bad_table_is_one_sentence_naming_file_and_field(tmp_path, table, problem):
    with pytest.raises(CatalogError) as info:
        load_patch(written(tmp_path, table))
    assert problem in str(info.value) and "upstream-tests." in str(info.value)
    assert "patch.toml" in str(info.value)


def test_every_built_in_patch_declares_its_upstream_tests_or_why_there_are_none():
    undeclared = [p.id for p in load_catalog() if p.upstream_tests is None]
    assert undeclared == []


# advisories, severity, cvss: the security advisories a fix closes -----------------------
def with_fields(tmp_path, **fields):
    return write_patch(tmp_path, "adv", name="round_up", fix="def round_up(x, y):\n    return x\n",
                       pre_fix=["0123456789abcdef"], fields=fields)


def test_advisory_ids_severity_and_score_are_read(tmp_path):
    patch = load_patch(with_fields(tmp_path, advisories=["GHSA-94f4-hr76-p5j6",
                                                         "CVE-2026-48746"],
                                   severity="Critical", cvss=9.1))
    assert patch.advisories == ("GHSA-94f4-hr76-p5j6", "CVE-2026-48746")
    assert (patch.severity, patch.cvss) == ("critical", 9.1)
    assert patch.to_dict()["advisories"] == ["GHSA-94f4-hr76-p5j6", "CVE-2026-48746"]


@pytest.mark.parametrize("fields, problem", [
    ({"advisories": ["GHSA-94f4-hr76-p5j"]}, "must list GHSA-xxxx-xxxx-xxxx or CVE-YYYY-NNNN"),
    ({"advisories": ["GHSA-aaaa-bbbb-cccc"]}, "must list GHSA"),  # letters GitHub never uses
    ({"advisories": ["CVE-2026-12"]}, "must list GHSA"),
    ({"advisories": "CVE-2026-48746"}, "must be a list of strings"),
    ({"severity": "urgent"}, "must be one of low, medium, high, critical"),
    ({"cvss": 11}, "must be a CVSS base score"),
    ({"cvss": "9.1"}, "must be a CVSS base score"),
])
def test_a_bad_advisory_field_is_one_sentence(tmp_path, fields, problem):
    with pytest.raises(CatalogError, match=re.escape(problem)):
        load_patch(with_fields(tmp_path, **fields))
