"""Real vLLM release trees, fetched with pip into a user cache.

``release_tree("0.22.1")`` downloads that release's wheel (``pip download
--no-deps``), keeps only its ``.py`` files and its dist-info, and returns the
folder that holds ``vllm/``. The tests, ``--release`` and the GPU bundle use
it, so that vLLM's code is always read from the real release and never copied
into this repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.version import InvalidVersion, Version

from vllm_patches.core import messages
from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.files import CACHE_ENV, FileLock, cache_root  # noqa: F401  (re-exported)

_PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in range(17, 40)] + ["manylinux2014_x86_64"]


class ReleaseError(VllmPatchesError):
    """A release could not be fetched or unpacked."""


def _wanted(name: str) -> bool:
    top = name.split("/", 1)[0]
    return (top == "vllm" and name.endswith(".py")) or (
        top.startswith("vllm-") and top.endswith(".dist-info")
    )


def canonical(version: str) -> str:
    """The one name of the release ``version`` names, the key of its cached tree.

    PEP 440 equal versions get the same name, with at least three release numbers as
    vLLM writes them: ``0.22``, ``0.22.0``, ``v0.22.0`` and ``0.22.0.0`` are ``0.22.0``;
    ``0.10.1.1``, ``0.22.0rc1`` and ``0.22.0.post1`` stay themselves. ``ReleaseError``
    when ``version`` is no version.
    """
    try:
        v = Version(version)
    except InvalidVersion:
        raise ReleaseError(messages.bad_release(version)) from None
    release = list(v.release)
    while len(release) > 3 and release[-1] == 0:
        release.pop()
    release += [0] * (3 - len(release))
    text = (f"{v.epoch}!" if v.epoch else "") + ".".join(str(n) for n in release)
    if v.pre is not None:
        text += f"{v.pre[0]}{v.pre[1]}"
    if v.post is not None:
        text += f".post{v.post}"
    if v.dev is not None:
        text += f".dev{v.dev}"
    return text + (f"+{v.local}" if v.local else "")


def is_cached(version: str) -> bool:
    """True when ``release_tree(version)`` needs no download."""
    return (cache_root() / "releases" / canonical(version) / ".complete").is_file()


def release_tree(version: str, *, quiet: bool = True, compiled: bool = False) -> Path:
    """The unpacked ``.py`` tree of a vLLM release, fetched on first use, kept under the
    release's ``canonical`` name (``0.22`` and ``0.22.0`` share one tree).

    ``compiled``: for a caller that imports vLLM from the tree, byte-compile it once for
    this interpreter, so that no process that imports it compiles vLLM's modules again
    (with ``PYTHONDONTWRITEBYTECODE`` set, each one would: about 2 s of every check).
    """
    version = canonical(version)
    dest = cache_root() / "releases" / version
    if (dest / ".complete").is_file() and (not compiled or _compiled_marker(dest).is_file()):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(dest.parent / f".{version}.lock"):
        if not (dest / ".complete").is_file():
            _fetch(version, dest, quiet)
        if compiled and not _compiled_marker(dest).is_file():
            _compile(dest)
    return dest


def _compiled_marker(dest: Path) -> Path:
    return dest / f".compiled-{sys.implementation.cache_tag}"


def _compile(dest: Path) -> None:
    """Byte-compile the tree's modules for this interpreter (files that this Python cannot
    compile are left to fail where they are imported, as they would anyway)."""
    import compileall

    compileall.compile_dir(str(dest / "vllm"), quiet=2, workers=1)
    _compiled_marker(dest).write_text(sys.version + "\n")


def _fetch(version: str, dest: Path, quiet: bool) -> None:
    """Download the wheel and unpack its ``.py`` files and dist-info into ``dest``."""
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{version}-") as tmp:
        wheel = _download(version, Path(tmp) / "wheel", quiet)
        staging = Path(tmp) / "tree"
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                if _wanted(info.filename):
                    zf.extract(info, staging)
        (staging / ".complete").write_text(wheel.name + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)


def _download(version: str, folder: Path, quiet: bool) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-d", str(folder), f"vllm=={version}"]
    for platform in _PLATFORMS:
        cmd += ["--platform", platform]
    result = subprocess.run(cmd, capture_output=quiet, text=True)
    wheels = sorted(folder.glob("vllm-*.whl"))
    if result.returncode != 0 or not wheels:
        raise ReleaseError(messages.release_download_failed(version))
    return wheels[0]


