"""Find the vLLM to patch, without importing it.

Three ways in: the ``vllm`` package that Python would import (a site-packages
install, a tree on ``PYTHONPATH``, or an editable checkout), a folder given with
``--target`` (a fork checkout or a site-packages that holds ``vllm/``), and an
explicit version (``--vllm-version`` or ``VLLM_PATCHES_VLLM_VERSION``) for builds
whose version string says nothing useful. Nothing here imports torch or vLLM.

The version is read from the tree itself, never from metadata of another place:
first the distribution whose files the tree is (a dist-info whose RECORD lists the
tree's ``vllm/__init__``, an editable install of that checkout, or an egg-info
beside it), then the tree's own ``vllm/_version.py``, else it is unknown.
"""

from __future__ import annotations

import ast
import csv
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.machinery import PathFinder
from pathlib import Path, PurePosixPath
from typing import overload

from packaging.version import InvalidVersion, Version

from vllm_patches.core import messages
from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.importfile import ModuleSource, is_package, module_source

VERSION_ENV = "VLLM_PATCHES_VLLM_VERSION"


class DetectError(VllmPatchesError):
    """The target is not a vLLM tree, or a version cannot be read."""


@dataclass(frozen=True)
class VllmInstall:
    """One vLLM tree: where its ``vllm/`` package lies and which version it is."""

    location: Path  # the folder that holds the ``vllm/`` package
    version: Version | None
    raw_version: str | None
    version_from: str  # metadata, override, dist-info, _version.py, unknown
    editable: bool
    from_target: bool

    @property
    def package_dir(self) -> Path:
        return self.location / "vllm"

    def module_path(self, module: str) -> Path:
        return self.location / (module.replace(".", "/") + ".py")

    def module_source(self, module: str) -> ModuleSource:
        """One vLLM module as Python imports it from this tree (``importfile``): which file,
        and its source text when Python runs that source. The one reader of vLLM module
        text; SourceTextError, one sentence naming the file, when it cannot be read."""
        return module_source(self.location, module)

    def read_module(self, module: str) -> str | None:
        """The source text of one vLLM module (``sourcefile.read_source``: its declared
        encoding, no BOM, line endings kept), or None when Python would run no source for
        it (no module, or only its bytecode or an extension module: see ``module_source``).
        """
        return self.module_source(module).text

    def to_dict(self) -> dict[str, object]:
        return {
            "version": str(self.version) if self.version else self.raw_version,
            "location": str(self.location),
            "editable": self.editable,
            "version_from": self.version_from,
            "target": self.from_target,
        }


def parse_version(raw: str, origin: str) -> Version:
    """A PEP 440 version, or a DetectError naming where the text came from."""
    try:
        return Version(raw.strip())
    except InvalidVersion:
        raise DetectError(messages.bad_version(raw, origin)) from None


@overload
def find_vllm(target: Path | str, version: str | None = None) -> VllmInstall: ...


@overload
def find_vllm(target: None = None, version: str | None = None) -> VllmInstall | None: ...


def find_vllm(target: Path | str | None = None, version: str | None = None) -> VllmInstall | None:
    """The vLLM tree to work on; None when no vLLM is installed and no target given."""
    override = version or os.environ.get(VERSION_ENV) or None
    if target is not None:
        return _from_target(Path(target), override)
    return _from_environment(override)


def _from_environment(override: str | None) -> VllmInstall | None:
    # The path-based finder, without importing importlib.util (status must stay fast).
    # An editable vLLM that a meta-path finder serves is found below, through its
    # metadata's direct_url.json.
    spec = PathFinder.find_spec("vllm")
    location = None
    if spec is not None and spec.submodule_search_locations:
        location = Path(next(iter(spec.submodule_search_locations))).resolve().parent
    if location is None:
        found = next(_metadata_dirs(sys.path), None)
        if found is None:
            return None
        location = _editable_url(found) or found.parent.resolve()
    # The version is that of the distribution whose files the tree is, never of another
    # distribution named vllm elsewhere on the path (a fork on PYTHONPATH shadows the
    # release whose metadata is in site-packages).
    owner = _owner(location, [location, *sys.path])
    editable = owner is not None and _editable_url(owner) is not None
    if override:
        return VllmInstall(location, parse_version(override, messages.OVERRIDE_ORIGIN),
                           override, "override", editable, False)
    raw, origin = _version_of(location, owner, "metadata")
    if raw is None:
        return VllmInstall(location, None, None, "unknown", editable, False)
    where = f"vLLM's metadata at {owner}" if origin == "metadata" else f"{origin} in {location}"
    return VllmInstall(location, parse_version(raw, where), raw, origin, editable, False)


def _from_target(target: Path, override: str | None) -> VllmInstall:
    if not target.exists():
        raise DetectError(messages.target_missing(target))
    location = target.resolve()
    if location.name == "vllm" and is_package(location.parent, "vllm"):
        location = location.parent
    if not is_package(location, "vllm"):
        raise DetectError(messages.target_not_vllm(target))
    if override:
        return VllmInstall(location, parse_version(override, messages.OVERRIDE_ORIGIN),
                           override, "override", False, True)
    raw, origin = _version_of(location, _owner(location, [location]), "dist-info")
    if raw is None:
        return VllmInstall(location, None, None, "unknown", False, True)
    return VllmInstall(location, parse_version(raw, f"{origin} in {location}"), raw, origin,
                       False, True)


def _version_of(location: Path, owner: Path | None, label: str) -> tuple[str | None, str]:
    """``(version, where from)`` of the tree at ``location``: its own distribution's
    metadata (``owner``, named ``label``), else its ``vllm/_version.py``."""
    raw = _metadata_version(owner) if owner is not None else None
    if raw is not None:
        return raw, label
    return _version_from_tree(location), "_version.py"


# Distribution metadata -------------------------------------------------------
_METADATA_GLOBS = ("vllm-*.dist-info", "vllm.egg-info", "vllm-*.egg-info")
_METADATA_LIMIT = 16 << 20
_INIT = b"vllm/__init__."


def _metadata_dirs(folders) -> Iterator[Path]:
    """vLLM's metadata folders (dist-info, egg-info) in ``folders``, in path order."""
    seen = set()
    for folder in folders:
        folder = Path(folder or ".")
        if folder in seen or not folder.is_dir():
            continue
        seen.add(folder)
        for pattern in _METADATA_GLOBS:
            yield from (info for info in sorted(folder.glob(pattern)) if info.is_dir())


def _owner(location: Path, folders) -> Path | None:
    """The metadata folder, among those in ``folders``, of the distribution whose files are
    the ``vllm/`` package at ``location``; None when no distribution's are."""
    return next((info for info in _metadata_dirs(folders) if _owns(info, location)), None)


def _owns(info: Path, location: Path) -> bool:
    """True when the distribution of metadata folder ``info`` installed the ``vllm/`` package
    at ``location``: an editable install of that checkout, a RECORD that lists its
    ``__init__`` there, or (no RECORD: an egg-info) metadata beside the package."""
    url = _editable_url(info)
    if url is not None:
        return url == location
    record = _read_metadata(info, "RECORD")
    if record is None:
        return info.parent.resolve() == location
    package = (location / "vllm").resolve()
    return any((info.parent / path).resolve().parent == package
               for path in _package_inits(record))


def _package_inits(record: bytes) -> Iterator[PurePosixPath]:
    """The paths of ``vllm/__init__`` files (any suffix) that a RECORD lists (a RECORD of
    vLLM holds thousands of lines: only the few that name such a file are parsed)."""
    start = record.find(_INIT)
    while start >= 0:
        begin = record.rfind(b"\n", 0, start) + 1
        end = record.find(b"\n", start)
        end = len(record) if end < 0 else end
        for row in csv.reader([record[begin:end].decode("utf-8", "replace")]):
            path = PurePosixPath(row[0]) if row else None
            if (path is not None and path.parent.name == "vllm"
                    and path.name.startswith("__init__.")):
                yield path
        start = record.find(_INIT, end)


def _read_metadata(info: Path, name: str) -> bytes | None:
    """One file of a metadata folder (``files.read_untrusted``), or None when unreadable."""
    from vllm_patches.core.files import read_untrusted

    try:
        return read_untrusted(info / name, limit=_METADATA_LIMIT)
    except OSError:
        return None


def _metadata_version(info: Path) -> str | None:
    """The ``Version:`` of a dist-info's METADATA (an egg-info's PKG-INFO)."""
    data = _read_metadata(info, "METADATA" if info.suffix == ".dist-info" else "PKG-INFO")
    headers = (data or b"").replace(b"\r\n", b"\n").partition(b"\n\n")[0]
    for line in headers.decode("utf-8", "replace").splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return None


def _editable_url(info: Path) -> Path | None:
    """The checkout an editable install's ``direct_url.json`` points at (PEP 610), if any."""
    import json

    text = _read_metadata(info, "direct_url.json")
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("dir_info"), dict) \
            or not data["dir_info"].get("editable"):
        return None
    from urllib.parse import unquote, urlparse

    url = urlparse(str(data.get("url", "")))
    return Path(unquote(url.path)).resolve() if url.scheme == "file" else None


def _version_from_tree(location: Path) -> str | None:
    """The version that setuptools-scm writes to ``vllm/_version.py``, if any."""
    from vllm_patches.core.sourcefile import SourceTextError

    try:
        text = module_source(location, "vllm._version").text
    except SourceTextError:
        return None
    return version_in_source(text) if text is not None else None


def version_in_source(text: str) -> str | None:
    """The ``__version__`` (or ``version``) string that a ``_version.py`` text assigns."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            value = node.value
            if names & {"__version__", "version"} and isinstance(value, ast.Constant) \
                    and isinstance(value.value, str):
                return value.value
    return None
