"""A vLLM tree as one commit of a git repository holds it: its files and its version.

``branch_tree`` gives a ``VllmInstall`` whose modules are read from the
commit's blobs, so that ``state.patch_status`` judges a branch exactly as
``status`` judges a checkout, without checking anything out.

The version of a branch, first found wins:

1. ``--vllm-version`` (for every branch of the call);
2. ``vllm/_version.py`` committed on the branch (setuptools-scm forks usually
   do not commit it);
3. the nearest tag reachable from the branch tip that holds a version
   (``git describe --tags``): a leading ``v`` and any prefix are dropped
   (``v0.22.1`` and ``acme-v0.22.1-3`` give 0.22.1, ``v0.22.1+acme.3`` gives
   0.22.1+acme.3), and commits past the tag count as that version, since a
   fork branch's own commits do not change which vLLM release it is;
4. none: each patch is judged by the shape of the code alone, and the
   summary says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

from vllm_patches.backport import messages

from vllm_patches.core import messages as core_messages

from vllm_patches.backport import gitrepo
from vllm_patches.core.detect import VllmInstall, parse_version, version_in_source
from vllm_patches.core.importfile import FileKind, ModuleSource

VERSION_FILE = "vllm/_version.py"
_TAG_VERSION = re.compile(
    r"\d+(?:\.\d+)+(?:(?:a|b|rc)\d+)?(?:\.post\d+)?(?:\.dev\d+)?(?:\+[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*)?"
)


@dataclass(frozen=True)
class BranchTree(VllmInstall):
    """The vLLM tree of commit ``sha``; ``location`` is the branch's name."""

    repo: object = field(default=None, compare=False, repr=False)
    sha: str = ""

    def module_source(self, module: str) -> ModuleSource:
        """A module's source as the commit holds it (a branch holds sources, never the
        bytecode that an install may run instead)."""
        path = module.replace(".", "/") + ".py"
        text = gitrepo.read_file(self.repo, self.sha, path)
        kind = FileKind.ABSENT if text is None else FileKind.SOURCE
        return ModuleSource(module, kind, Path(path), text)

    def module_bytes(self, relpath: str) -> bytes | None:
        return gitrepo.read_blob(self.repo, self.sha, relpath)


def version_of_tag(tag: str) -> Version | None:
    """The vLLM version a tag names (``v0.22.1``, ``v0.22.1+acme.3``, ``acme-v0.22.1-3``)."""
    match = _TAG_VERSION.search(tag)
    if match is None:
        return None
    try:
        return Version(match.group(0))
    except InvalidVersion:
        return None


def branch_version(repo, sha: str, override: str | None = None) -> tuple[Version | None, str]:
    """``(version, where it was read)`` for commit ``sha``, by the rule above."""
    if override:
        return parse_version(override, core_messages.OVERRIDE_ORIGIN), "--vllm-version"
    text = gitrepo.read_file(repo, sha, VERSION_FILE)
    raw = version_in_source(text) if text is not None else None
    if raw is not None:
        try:
            return Version(raw), VERSION_FILE
        except InvalidVersion:
            pass
    described = gitrepo.describe(repo, sha)
    if described is not None:
        tag, distance = described
        version = version_of_tag(tag)
        if version is not None:
            return version, messages.backport_version_from_tag(tag, distance)
    return None, "unknown"


def branch_tree(repo, name: str, sha: str, override: str | None = None) -> BranchTree:
    """The vLLM tree on branch ``name`` (at ``sha``); RepoError when it holds no vLLM."""
    if gitrepo.read_blob(repo, sha, "vllm/__init__.py") is None:
        raise gitrepo.RepoError(messages.backport_not_vllm(name))
    version, origin = branch_version(repo, sha, override)
    return BranchTree(
        location=Path(name),
        version=version,
        raw_version=str(version) if version is not None else None,
        version_from=origin,
        editable=False,
        from_target=True,
        repo=repo,
        sha=sha,
    )
