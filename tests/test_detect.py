"""Finding vLLM without importing it: installs, editable checkouts, targets, overrides."""

import json
import shutil

import pytest
from packaging.version import Version

from tests.conftest import AFFECTED
from tests.helpers import run_python
from vllm_patches.core.detect import DetectError, find_vllm

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
    found, imported = find_in_subprocess(release(AFFECTED[-1]))
    assert found["version"] == AFFECTED[-1]
    assert found["location"] == str(release(AFFECTED[-1]))
    assert found["version_from"] == "metadata" and not found["editable"]
    assert imported == [False, False]


def test_no_vllm_installed_is_none():
    found, _ = find_in_subprocess()
    assert found is None


def test_editable_install_points_at_the_checkout(tmp_path):
    checkout = make_tree(tmp_path / "checkout")
    site = tmp_path / "site"
    info = site / "vllm-0.22.2.dev12+gabc123.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vllm\nVersion: 0.22.2.dev12+gabc123\n\n")
    (info / "direct_url.json").write_text(
        json.dumps({"url": checkout.as_uri(), "dir_info": {"editable": True}})
    )
    found, _ = find_in_subprocess(site)
    assert found["editable"] is True
    assert found["location"] == str(checkout)
    assert found["version"] == "0.22.2.dev12+gabc123"


def test_environment_override_wins(release):
    found, _ = find_in_subprocess(release(AFFECTED[-1]), VLLM_PATCHES_VLLM_VERSION="0.22.1+acme.3")
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
    from vllm_patches.core.catalog import get_patch

    install = find_vllm(make_tree(tmp_path, dist_version=label))
    assert get_patch("gemma4-mtp-stable-lm-head").affects(install.version)


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
