"""The one guard for paths read from disk: what it lets through, and what it refuses."""

from __future__ import annotations

import os

import pytest

from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.pathguard import STATE_DIR, Area, UnsafePath, checked, read_regular, resolve


@pytest.fixture
def tree(tmp_path):
    """A tree (vllm/ and .vllm-patches/, a .git) and a folder beside it, with links of each kind."""
    root = tmp_path / "tree"
    (root / "vllm" / "models").mkdir(parents=True)
    (root / "vllm" / "models" / "m.py").write_text("m = 1\n")
    (root / STATE_DIR).mkdir()
    (root / ".git" / "hooks").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.py").write_text("x = 1\n")
    links = {
        "vllm/out": outside,  # a folder out of the tree
        "vllm/out.py": outside / "x.py",  # a file out of the tree
        "vllm/hooks": root / ".git" / "hooks",  # into .git
        "vllm/state": root / STATE_DIR,  # into the other area
        "vllm/same": root / "vllm" / "models",  # within vllm/
        "vllm/loop": root / "vllm" / "loop",  # to itself
    }
    for link, target in links.items():
        (root / link).symlink_to(target)
    return root


@pytest.mark.parametrize("rel,resolved", [
    ("vllm/models/m.py", "vllm/models/m.py"),
    ("vllm/models/new.py", "vllm/models/new.py"),  # need not exist yet
    ("vllm/same/m.py", "vllm/models/m.py"),  # a symlink that stays in vllm/
    (f"{STATE_DIR}/record.json", f"{STATE_DIR}/record.json"),
    (STATE_DIR, STATE_DIR),
])
def test_paths_inside_the_areas_resolve(tree, rel, resolved):
    assert resolve(tree, rel) == tree.resolve() / resolved


@pytest.mark.parametrize("rel,problem", [
    (None, "is not a path"),
    (3, "is not a path"),
    ("", "is not a path"),
    ("vllm/m.py\x00", "control character"),
    ("vllm/m\n.py", "control character"),
    ("/etc/passwd", "an absolute path"),
    ("vllm/../../outside/x.py", "through '..'"),
    ("..", "through '..'"),
    ("vllm//m.py", "not a plain relative path"),
    ("./vllm/m.py", "not a plain relative path"),
    ("vllm/models/", "not a plain relative path"),
    (".git/hooks/post-commit", "is under .git"),
    ("vllm/.GIT/config", "is under .git"),
    ("setup.py", "is not under .vllm-patches/ or vllm/"),
    ("vllm/out/x.py", "leads outside the vLLM tree"),
    ("vllm/out/new.py", "leads outside the vLLM tree"),
    ("vllm/out.py", "leads outside the vLLM tree"),
    ("vllm/hooks/post-commit", "is under .git (through a symlink"),
    ("vllm/loop/m.py", "symlink loop"),
])
def test_paths_that_break_a_rule_are_refused_in_one_sentence(tree, rel, problem):
    with pytest.raises(UnsafePath) as err:
        resolve(tree, rel)
    assert problem in err.value.problem
    assert isinstance(err.value, VllmPatchesError)
    message = str(err.value)
    assert message.endswith("of the tree it was given.") and "\n" not in message


def test_an_area_can_be_left_out(tree):
    only_vllm = frozenset({Area.VLLM})
    with pytest.raises(UnsafePath, match="is not under vllm/"):
        checked(f"{STATE_DIR}/record.json", only_vllm)
    with pytest.raises(UnsafePath, match=r"is not under vllm/ \(through a symlink"):
        resolve(tree, "vllm/state/record.json", only_vllm)


def test_read_regular_reads_only_plain_files(tree):
    assert read_regular(tree / "vllm/models/m.py") == b"m = 1\n"
    os.mkfifo(tree / "vllm/fifo")
    for path in ("vllm/out.py", "vllm/models", "vllm/fifo"):  # a symlink, a folder, a FIFO
        with pytest.raises(UnsafePath, match="is not a plain file"):
            read_regular(tree / path)
    with pytest.raises(FileNotFoundError):
        read_regular(tree / "vllm/none.py")
