#!/usr/bin/env python3
"""Build .bundle/: what a bare GPU machine needs to run ``vllm-patches verify``.

The GPU machine has Python 3.12 and torch, but no vLLM and no network. This
writes, under ``.bundle/`` (ignored by git):

  vllm-<version>.tar.gz   vLLM's .py files and dist-info from the release wheel
                          (``vllm_patches.core.releases.release_tree``), for each version:
                          by default the newest release of each recorded shape of each
                          patch whose check.py needs a GPU, read from the catalogue's seen tables
                          (``vllm_patches.verify.gpu.shapes``)
  wheels/*.whl            cp312 manylinux wheels of the small packages that
                          importing the GPU checks' vLLM modules needs and the image
                          lacks, with their requirements, pinned to the versions
                          installed here where there are any

vLLM's compiled extensions are left out (too big to carry); the verification
imports the Python-only tree with vLLM's CpuPlatform as the current platform.
tools/gpu_run.sh unpacks and uses the bundle on the GPU machine.

The run tool carries at most 64 MiB of ignored paths, so the bundle must stay under
LIMIT_MB (sizes are printed in MiB).

Usage: python3 tools/gpu_bundle.py [--versions 0.22.1,0.28.0] [--out .bundle]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vllm_patches.core.releases import release_tree  # noqa: E402
from vllm_patches.verify.gpu.imports import LATER_IMPORT_NEEDS  # noqa: E402
from vllm_patches.verify.gpu.shapes import newest_releases  # noqa: E402

# What importing the GPU checks' modules (gemma4_mtp, spec_decode/gemma4) needs beyond the GPU image (those of
# them that the image has are left out: tools/device_packages.txt).
NEEDED = ["cachetools", "cbor2", "gguf", "msgspec", "openai", "openai-harmony", "pybase64",
          "pydantic", "pyzmq", *LATER_IMPORT_NEEDS]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"]
TARGET_ENV = {**default_environment(), "python_version": "3.12", "python_full_version": "3.12.3",
              "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
              "implementation_name": "cpython", "platform_python_implementation": "CPython"}
LIMIT_MB = 60  # MiB: the run tool carries 64 MiB of ignored paths in all; a margin kept


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def device_packages() -> set[str]:
    lines = (REPO / "tools" / "device_packages.txt").read_text().splitlines()
    return {canonical(ln.strip()) for ln in lines if ln.strip() and not ln.startswith("#")}


def pack_tree(version: str, out: Path) -> Path:
    """vllm-<version>.tar.gz holding vllm/**.py and vllm-<version>.dist-info/."""
    tree = release_tree(version)
    archive = out / f"vllm-{version}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(tree.rglob("*")):
            rel = path.relative_to(tree)
            top = rel.parts[0]
            wanted = (top == "vllm" and path.suffix == ".py") or (
                top.endswith(".dist-info") and path.is_file())
            if wanted and path.is_file():
                tar.add(path, arcname=str(rel))
    return archive


def pin(name: str, spec: str = "") -> str:
    """``name==<version installed here>`` when that satisfies ``spec``, else ``name<spec>``."""
    try:
        local = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return f"{name}{spec}"
    requirement = Requirement(f"{name}{spec}")
    if requirement.specifier.contains(local, prereleases=True):
        return f"{name}=={local}"
    return f"{name}{spec}"


def download(requirements: list[str], folder: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "--python-version", "3.12",
           "--implementation", "cp", "-d", str(folder)]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    subprocess.run(cmd + requirements, check=True)


def wheel_name(path: Path) -> str:
    return canonical(path.name.split("-")[0])


def requirements_of(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode("utf-8", "replace")
    out = []
    for line in text.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req = Requirement(line.split(":", 1)[1].strip())
        if req.marker is None or req.marker.evaluate({**TARGET_ENV, "extra": ""}):
            out.append(req)
    return out


def fetch_wheels(folder: Path) -> list[Path]:
    """NEEDED and every requirement of theirs that the GPU image lacks, one version each."""
    folder.mkdir(parents=True, exist_ok=True)
    present = device_packages()
    download([pin(n) for n in NEEDED if canonical(n) not in present], folder)
    while True:
        wheels = sorted(folder.glob("*.whl"))
        have = {wheel_name(w) for w in wheels}
        missing = {}
        for wheel in wheels:
            for req in requirements_of(wheel):
                name = canonical(req.name)
                if name not in have and name not in present:
                    missing.setdefault(name, pin(req.name, str(req.specifier)))
        if not missing:
            return wheels
        print("  + requirements:", ", ".join(sorted(missing.values())))
        download(sorted(missing.values()), folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", default=None,
                        help="comma-separated vLLM releases (default: the newest of each "
                             "recorded shape of each patch with a GPU check)")
    parser.add_argument("--out", default=str(REPO / ".bundle"))
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    versions = args.versions.split(",") if args.versions else newest_releases()
    print("vLLM releases:", ", ".join(v.strip() for v in versions))
    for version in versions:
        archive = pack_tree(version.strip(), out)
        print(f"{archive.name}: {archive.stat().st_size / 2**20:.1f} MiB")
    wheels = fetch_wheels(out / "wheels")
    size = sum(w.stat().st_size for w in wheels) / 2**20
    print(f"wheels/: {len(wheels)} wheels, {size:.1f} MiB: "
          + ", ".join(sorted(w.name.split("-")[0] for w in wheels)))
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    print(f"{out}: {total:.1f} MiB in all")
    if total > LIMIT_MB:
        sys.exit(f"the bundle is over {LIMIT_MB} MiB; carry fewer versions")


if __name__ == "__main__":
    main()
