"""A catalogue shipped as a Python package: ``pip install acme-vllm-patches`` into an
environment, and every vLLM process there runs the acme fixes. vLLM's own
``load_general_plugins()`` in a spawned worker loads our plugin, which finds the package's
``vllm_patches.catalogs`` entry point and applies its patch; a broken patch beside it costs
only itself.

The package is a wheel made here (its patch is one of ours under another id, so it fixes a
real vLLM function of a real release), installed with pip into a fresh venv."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.helpers import SCENARIOS, run_python
from vllm_patches.core.catalog import catalog_dir

OURS = "stop-string-earliest-match"
ACME = "acme-stop"
BROKEN = "acme-broken"
RELEASE = "0.26.0"


def acme_wheel(folder: Path, *, broken: bool) -> Path:
    """acme_vllm_patches-1.0-py3-none-any.whl: a package that is a catalogue folder."""
    files: dict[str, bytes] = {"acme_vllm_patches/__init__.py": b'"""Acme\'s vLLM fixes."""\n'}
    for name in ("patch.toml", "fix.py", "check.py"):
        data = (catalog_dir() / OURS / name).read_bytes()
        if name == "patch.toml":
            data = data.replace(f'id = "{OURS}"'.encode(), f'id = "{ACME}"'.encode())
        files[f"acme_vllm_patches/{ACME}/{name}"] = data
    if broken:  # a patch whose fix.py does not parse: it must cost only itself
        toml = files[f"acme_vllm_patches/{ACME}/patch.toml"].replace(
            f'id = "{ACME}"'.encode(), f'id = "{BROKEN}"'.encode())
        files[f"acme_vllm_patches/{BROKEN}/patch.toml"] = toml
        files[f"acme_vllm_patches/{BROKEN}/fix.py"] = b"def check_stop_strings(:\n"
    info = "acme_vllm_patches-1.0.dist-info"
    files[f"{info}/METADATA"] = b"Metadata-Version: 2.1\nName: acme-vllm-patches\nVersion: 1.0\n"
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                              b"Tag: py3-none-any\n")
    files[f"{info}/entry_points.txt"] = b"[vllm_patches.catalogs]\nacme = acme_vllm_patches\n"
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / "acme_vllm_patches-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return wheel


@pytest.fixture
def acme_venv(tmp_path, plugin_site):
    """A fresh venv with acme-vllm-patches pip-installed; it sees this environment's
    packages (torch, vLLM's small dependencies) through a .pth line, as a system site."""
    def make(*, broken: bool = False) -> Path:
        venv = tmp_path / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        python = venv / "bin" / "python"
        site = Path(subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True).stdout.strip())
        (site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        wheel = acme_wheel(tmp_path, broken=broken)
        subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                        "--no-deps", "--no-index", "--disable-pip-version-check", str(wheel)],
                       check=True, capture_output=True, text=True)
        return python
    return make


def run_worker(python: Path, *paths, ids=(ACME, OURS), **env) -> dict:
    proc = run_python([str(SCENARIOS / "catalogue_package.py"), ",".join(ids)], *paths,
                      interpreter=str(python), **env)
    return json.loads(proc.stdout.strip().splitlines()[-1])["worker"]


def test_an_installed_package_catalogue_is_applied_in_a_spawned_vllm_worker(
        release, plugin_site, acme_venv):
    python = acme_venv()
    worker = run_worker(python, plugin_site, release(RELEASE), VLLM_PATCHES=ACME)
    assert worker == {**worker, "mark": ACME, "applied": [ACME], "exitcode": 0}


def test_without_the_package_the_patch_is_not_there(release, plugin_site, tmp_path):
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    (site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    worker = run_worker(venv / "bin" / "python", plugin_site, release(RELEASE), VLLM_PATCHES=ACME)
    assert worker["mark"] is None and worker["applied"] == []


def test_a_broken_patch_in_the_package_costs_only_itself(release, plugin_site, acme_venv):
    python = acme_venv(broken=True)
    worker = run_worker(python, plugin_site, release(RELEASE), ids=(ACME, BROKEN, OURS))
    # Every selected patch that can run does: ours and acme's wrap the same function without
    # declaring how, so the first applied keeps it and the other is refused; the broken one
    # is left out with a warning; the worker runs.
    assert worker["exitcode"] == 0 and BROKEN not in worker["applied"]
    assert worker["mark"] in (ACME, OURS) and worker["applied"] == [worker["mark"]]
