"""Finding vLLM without importing it: installs, editable checkouts, targets, overrides."""

import json
import shutil

import pytest
from packaging.version import Version

from tests.helpers import run_python
from vllm_patches.core.detect import DetectError, find_vllm
from vllm_patches.core.versions import VersionRange

RELEASE = "0.22.1"  # any release tree: finding vLLM reads no patch

FIND = (
    "import json, sys; from vllm_patches.core.detect import find_vllm; i = find_vllm(); "
    "print(json.dumps(i.to_dict() if i else None)); "
    "print(json.dumps(['vllm' in sys.modules, 'torch' in sys.modules]))"
)


def find_in_subprocess(*paths, **env):
    lines = run_python(["-c", FIND], *paths, **env).stdout.strip().splitlines()
    return json.loads(lines[-2]), json.loads(lines[-1])


def make_tree(root, version_file=None, dist_version=None):
    (root / "vllm").mkdir(parents=True)
    (root / "vllm" / "__init__.py").write_text("")
    if version_file:
        (root / "vllm" / "_version.py").write_text(
            f"__version__ = version = {version_file!r}\n__version_tuple__ = (0,)\n"
        )
    if dist_version:
        info = root / f"vllm-{dist_version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {dist_version}\n\n")
    return root


def test_installed_release_is_found_without_importing_it(release):
    found, imported = find_in_subprocess(release(RELEASE))
    assert found["version"] == RELEASE
    assert found["location"] == str(release(RELEASE))
    assert found["version_from"] == "metadata" and not found["editable"]
    assert imported == [False, False]


def test_no_vllm_installed_is_none():
    found, _ = find_in_subprocess()
    assert found is None


def editable_metadata(site, checkout, version="0.22.2.dev12+gabc123"):
    """What ``pip install -e CHECKOUT`` leaves in ``site``: a dist-info whose direct_url.json
    points at the checkout (PEP 610)."""
    info = site / f"vllm-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}\n\n")
    (info / "direct_url.json").write_text(
        json.dumps({"url": checkout.as_uri(), "dir_info": {"editable": True}})
    )
    return info


def test_editable_install_points_at_the_checkout(tmp_path):
    checkout = make_tree(tmp_path / "checkout")
    site = tmp_path / "site"
    editable_metadata(site, checkout)
    found, _ = find_in_subprocess(site)
    assert found["editable"] is True
    assert found["location"] == str(checkout)
    assert found["version"] == "0.22.2.dev12+gabc123"


def test_environment_override_wins(release):
    found, _ = find_in_subprocess(release(RELEASE), VLLM_PATCHES_VLLM_VERSION="0.22.1+acme.3")
    assert found["version"] == "0.22.1+acme.3" and found["version_from"] == "override"


def test_target_release_tree_reads_its_dist_info(release):
    install = find_vllm(release("0.21.0"))
    assert install.version == Version("0.21.0")
    assert install.version_from == "dist-info" and install.from_target


def test_target_checkout_reads_setuptools_scm_version(tmp_path):
    install = find_vllm(make_tree(tmp_path, version_file="0.22.2.dev12+gabc123"))
    assert install.version == Version("0.22.2.dev12+gabc123")
    assert install.version_from == "_version.py"


@pytest.mark.parametrize("label", ["0.22.1+cu129", "0.22.1+acme.3", "0.22.2rc1", "0.22.2.dev12+gabc123"])
def test_local_labels_and_fork_versions_fall_in_the_affected_range(tmp_path, label):
    install = find_vllm(make_tree(tmp_path, dist_version=label))
    assert install.version in VersionRange(">=0.21.0,<0.23.0")


def test_target_may_name_the_vllm_package_itself(release):
    install = find_vllm(release("0.21.0") / "vllm")
    assert install.location == release("0.21.0")


def test_target_without_version_is_unknown_not_an_error(tmp_path):
    install = find_vllm(make_tree(tmp_path))
    assert install.version is None and install.version_from == "unknown"


def test_folder_without_vllm_is_refused(tmp_path):
    with pytest.raises(DetectError, match="is not a vLLM tree"):
        find_vllm(tmp_path)


def test_missing_target_is_refused(tmp_path):
    with pytest.raises(DetectError, match="does not exist"):
        find_vllm(tmp_path / "nowhere")


def test_bad_override_is_refused(tmp_path):
    with pytest.raises(DetectError, match="not a PEP 440 version"):
        find_vllm(make_tree(tmp_path), version="latest-and-greatest")


def test_module_source_is_read_from_the_tree(release, tmp_path):
    tree = shutil.copytree(release("0.22.1") / "vllm" / "model_executor" / "models",
                           tmp_path / "t" / "vllm" / "model_executor" / "models")
    (tmp_path / "t" / "vllm" / "__init__.py").write_text("")
    install = find_vllm(tmp_path / "t")
    assert "class Gemma4MTP" in install.read_module("vllm.model_executor.models.gemma4_mtp")
    assert install.read_module("vllm.model_executor.models.nope") is None
    assert tree.is_dir()


# The version of the tree on the path is its own distribution's -------------------------
def foreign_metadata(release, folder, version="0.33.0"):
    """A real wheel's dist-info, in a folder of the path where its package is not."""
    return shutil.copytree(next(release(version).glob("vllm-*.dist-info")),
                           folder / f"vllm-{version}.dist-info")


def test_a_tree_on_the_path_takes_no_version_from_metadata_elsewhere(release, tmp_path):
    tree = make_tree(tmp_path / "fork")
    foreign_metadata(release, tmp_path / "site")
    found, _ = find_in_subprocess(tree, tmp_path / "site")
    assert found["location"] == str(tree)
    assert (found["version"], found["version_from"]) == (None, "unknown")
    (tree / "vllm" / "_version.py").write_text("__version__ = version = '0.22.2.dev3+gfork'\n")
    found, _ = find_in_subprocess(tree, tmp_path / "site")
    assert (found["version"], found["version_from"]) == ("0.22.2.dev3+gfork", "_version.py")


def test_metadata_elsewhere_whose_record_lists_the_tree_gives_its_version(release, tmp_path):
    """A RECORD names files relative to its own folder: one that lists this tree's
    vllm/__init__.py is the distribution of the tree, wherever the dist-info lies, and
    another distribution's metadata earlier on the path is not."""
    tree = make_tree(tmp_path / "lib" / "fork")
    foreign_metadata(release, tmp_path / "earlier", "0.17.0")
    info = foreign_metadata(release, tmp_path / "meta")
    record = (info / "RECORD").read_text()
    (info / "RECORD").write_text(record.replace("vllm/", "../lib/fork/vllm/"))
    found, _ = find_in_subprocess(tree, tmp_path / "earlier", tmp_path / "meta")
    assert (found["version"], found["version_from"]) == ("0.33.0", "metadata")


def test_an_editable_install_of_another_checkout_gives_no_version(tmp_path):
    tree = make_tree(tmp_path / "fork")
    other = make_tree(tmp_path / "other")
    site = tmp_path / "site"
    editable_metadata(site, other)
    found, _ = find_in_subprocess(tree, site)
    assert (found["location"], found["version"], found["editable"]) == (str(tree), None, False)
    found, _ = find_in_subprocess(other, site)
    assert (found["version"], found["editable"]) == ("0.22.2.dev12+gabc123", True)


def test_a_target_of_bytecode_only_is_a_vllm_tree(release, tmp_path):
    import py_compile

    tree = shutil.copytree(release("0.21.0"), tmp_path / "t",
                           ignore=shutil.ignore_patterns("__pycache__", "models", "v1"))
    init = tree / "vllm" / "__init__.py"
    py_compile.compile(str(init), cfile=str(init.with_suffix(".pyc")), doraise=True)
    init.unlink()
    install = find_vllm(tree)
    assert (install.location, install.version) == (tree, Version("0.21.0"))
