"""Version ranges match exactly as packaging's SpecifierSet does (pre-releases included)."""

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from vllm_patches.core.versions import InvalidRange, VersionRange

RANGES = [">=0.21.0,<0.23.0", ">=0.23.0", "<0.23.0rc1", ">0.22.1", "<=0.22.1", "==0.22.1",
          "!=0.22.1", "==0.22.1+acme.3", ">0.22.1.post1", ">=0.21.0, <0.23.0"]
VERSIONS = ["0.20.2", "0.21.0", "0.21.0rc1", "0.21.0.dev3", "0.22.1", "0.22.1+cu129",
            "0.22.1+acme.3", "0.22.1.post1", "0.22.1.post2", "0.22.2.dev12+gabc123", "0.22.2rc1",
            "0.23.0.dev5", "0.23.0rc1", "0.23.0", "0.23.0+cu129", "0.23.1", "1.0"]


@pytest.mark.parametrize("text", RANGES)
def test_matches_like_packaging(text):
    ours, theirs = VersionRange(text), SpecifierSet(text)
    for raw in VERSIONS:
        version = Version(raw)
        assert (version in ours) == theirs.contains(version, prereleases=True), (text, raw)


@pytest.mark.parametrize("text", ["~=0.22", "===0.22.1", "==0.22.*", ">=0.21,<", "0.22.1", ""])
def test_other_forms_are_refused(text):
    with pytest.raises(InvalidRange):
        VersionRange(text)
