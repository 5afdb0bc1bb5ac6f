"""Fingerprints recognise code by what it does, not how it is written."""

import ast

from vllm_patches.core.shape import class_prints, fingerprint, uses_attribute

ORIGINAL = '''
class Model:
    def weight(self):
        """Docstrings do not count."""
        w = self.lm_head.weight
        if size() > 1:
            w = gather(w, dim=0)
        return w[: self.vocab]
'''

REFORMATTED = '''
class Model:
    def weight(self):
        # comments and layout do not count either
        w = self.lm_head.weight

        if size() > 1:
            w = gather(
                w,
                dim=0,
            )
        return w[:self.vocab]
'''

EDITED = ORIGINAL.replace("dim=0", "dim=1")


def method(source, name="weight"):
    return class_prints(source, "Model").nodes[name]


def test_reformatting_keeps_the_fingerprint():
    assert fingerprint(method(ORIGINAL)) == fingerprint(method(REFORMATTED))


def test_an_edited_line_changes_the_fingerprint():
    assert fingerprint(method(ORIGINAL)) != fingerprint(method(EDITED))


def test_the_name_is_not_part_of_the_fingerprint():
    renamed = ORIGINAL.replace("def weight", "def _vllm_patches_orig_weight")
    renamed_print = fingerprint(method(renamed, "_vllm_patches_orig_weight"))
    assert renamed_print == fingerprint(method(ORIGINAL))


def test_missing_class_is_reported():
    prints = class_prints("x = 1\n", "Model")
    assert not prints.class_found and prints.methods == {}


def test_uses_attribute_finds_reads_and_writes():
    node = ast.parse("def f(self):\n    self._cache = None\n").body[0]
    assert uses_attribute(node, "_cache")
    assert not uses_attribute(node, "_other")


def test_real_affected_releases_share_one_shape(release):
    prints = {
        v: class_prints(
            (release(v) / "vllm/model_executor/models/gemma4_mtp.py").read_text(), "Gemma4MTP"
        ).methods["_get_full_lm_head_weight"]
        for v in ("0.21.0", "0.22.0", "0.22.1", "0.23.0")
    }
    assert prints["0.21.0"] == prints["0.22.0"] == prints["0.22.1"]
    assert prints["0.23.0"] != prints["0.22.1"]
