"""The shape cache gives exactly what parsing gives, once per text, and trusts nothing it
reads back: a changed file is a new key, and a bad entry is recomputed."""

import json

import pytest

from vllm_patches.core import shape_cache
from vllm_patches.core.catalog import load_catalog
from vllm_patches.core.shape import class_prints, uses_attribute
from vllm_patches.core.sourcefile import read_source

RELEASES = ("0.22.1", "0.26.0")
TARGETS = sorted({(t.module, t.class_name) for p in load_catalog() for t in p.targets},
                 key=str)


@pytest.fixture(scope="module")
def module_text(release):
    """``module_text(version, module)`` -> the module's text in that release (None where the
    release has no such module). The release is found here, before ``cache`` points
    VLLM_PATCHES_CACHE at an empty folder (where it would be fetched again)."""
    roots = {version: release(version) for version in RELEASES}

    def text(version, module):
        path = roots[version] / (module.replace(".", "/") + ".py")
        return read_source(path).text if path.exists() else None

    return text


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VLLM_PATCHES_CACHE", str(tmp_path))
    monkeypatch.delenv(shape_cache.ENV, raising=False)
    shape_cache._MEMO.clear()
    yield tmp_path / "shapes"
    shape_cache._MEMO.clear()


@pytest.mark.parametrize("version", RELEASES)
@pytest.mark.parametrize("module, class_name", TARGETS)
def test_cached_prints_equal_parsed_prints_fresh_and_read_back(module_text, cache, version,
                                                               module, class_name):
    text = module_text(version, module)
    if text is None:
        pytest.skip(f"{module} is not in {version}")
    parsed = class_prints(text, class_name)
    fresh = shape_cache.scope_prints(text, class_name)
    shape_cache._MEMO.clear()
    read_back = shape_cache.scope_prints(text, class_name)
    assert len(list(cache.rglob("*.json"))) == 1
    for got in (fresh, read_back):
        assert got.class_found == parsed.class_found and got.methods == parsed.methods
        for name, node in parsed.nodes.items():
            for attribute in ("weight", "_stable_full_lm_head_weight", "nonexistent_attr"):
                assert got.uses(name, attribute) == uses_attribute(node, attribute)


def test_a_changed_text_is_a_new_entry(cache):
    one = shape_cache.scope_prints("def f(x):\n    return x\n", None)
    two = shape_cache.scope_prints("def f(x):\n    return x + 1\n", None)
    assert one.methods["f"] != two.methods["f"]
    assert len(list(cache.rglob("*.json"))) == 2


@pytest.mark.parametrize("tamper", [
    lambda d: {**d, "methods": {"f": "not-a-fingerprint"}},
    lambda d: {**d, "key": "0" * 32},
    lambda d: {**d, "format": 999},
    lambda d: {**d, "attributes": {}},
    lambda d: ["not", "a", "dict"],
    None,  # not JSON at all
], ids=["bad print", "other key", "other format", "attributes missing", "a list", "garbage"])
def test_a_bad_entry_is_recomputed_and_rewritten(cache, tamper):
    text = "class C:\n    def f(self):\n        return self.weight\n"
    want = class_prints(text, "C")
    shape_cache.scope_prints(text, "C")
    [entry] = cache.rglob("*.json")
    data = json.loads(entry.read_text())
    entry.write_text("{not json" if tamper is None else json.dumps(tamper(data)))
    shape_cache._MEMO.clear()
    got = shape_cache.scope_prints(text, "C")
    assert got.methods == want.methods and got.uses("f", "weight")
    assert json.loads(entry.read_text()) == data  # rewritten as it should be


def test_no_files_when_turned_off(cache, monkeypatch):
    monkeypatch.setenv(shape_cache.ENV, "0")
    shape_cache.scope_prints("def f():\n    pass\n", None)
    assert not cache.exists()


def test_a_text_that_does_not_parse_raises_and_is_not_cached(cache):
    with pytest.raises(SyntaxError):
        shape_cache.scope_prints("def f(:\n", None)
    assert not cache.exists()
