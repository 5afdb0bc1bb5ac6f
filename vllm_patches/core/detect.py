"""Find the vLLM to patch, without importing it.

Three ways in: the vLLM that ``importlib.metadata`` finds (a site-packages
install or an editable checkout), a folder given with ``--target`` (a fork
checkout or a site-packages that holds ``vllm/``), and an explicit version
(``--vllm-version`` or ``VLLM_PATCHES_VLLM_VERSION``) for builds whose version
string says nothing useful. Nothing here imports torch or vLLM.
"""

from __future__ import annotations

import ast
from importlib.machinery import PathFinder
import os
from dataclasses import dataclass
from pathlib import Path

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
    # Fast path: a regular install keeps its dist-info beside the package, and
    # importlib.metadata (tens of milliseconds to import) is not needed.
    raw = _version_from_dist_info(location) if location is not None else None
    editable = False
    if raw is None:
        from importlib import metadata

        try:
            dist = metadata.distribution("vllm")
        except metadata.PackageNotFoundError:
            dist = None
        if location is None and dist is None:
            return None
        if location is None:
            location = _location_from_dist(dist)
        editable = dist is not None and _is_editable(dist)
        raw = dist.version if dist is not None else _version_from_tree(location)
    if override:
        return VllmInstall(location, parse_version(override, messages.OVERRIDE_ORIGIN),
                           override, "override", editable, False)
    if raw is None:
        return VllmInstall(location, None, None, "unknown", editable, False)
    return VllmInstall(location, parse_version(raw, f"vLLM's metadata at {location}"),
                       raw, "metadata", editable, False)


def _location_from_dist(dist) -> Path:
    direct = _direct_url(dist)
    if direct and direct.get("dir_info", {}).get("editable"):
        from urllib.parse import unquote, urlparse

        url = urlparse(direct.get("url", ""))
        if url.scheme == "file":
            return Path(unquote(url.path))
    return Path(str(dist.locate_file(""))).resolve()


def _direct_url(dist) -> dict | None:
    import json

    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _is_editable(dist) -> bool:
    direct = _direct_url(dist)
    return bool(direct and direct.get("dir_info", {}).get("editable"))


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
    raw, origin = _version_from_dist_info(location), "dist-info"
    if raw is None:
        raw, origin = _version_from_tree(location), "_version.py"
    if raw is None:
        return VllmInstall(location, None, None, "unknown", False, True)
    return VllmInstall(location, parse_version(raw, f"{origin} in {location}"), raw, origin,
                       False, True)


def _version_from_dist_info(location: Path) -> str | None:
    for meta in sorted(location.glob("vllm-*.dist-info/METADATA")):
        with meta.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
                if not line.strip():
                    break
    return None


def _version_from_tree(location: Path) -> str | None:
    """The version that setuptools-scm writes to ``vllm/_version.py``, if any."""
    path = location / "vllm" / "_version.py"
    try:
        return version_in_source(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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
