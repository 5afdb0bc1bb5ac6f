"""The vLLM releases that the package index publishes, asked once per process with pip.

``catalog check`` checks a patch that records no releases (no ``seen`` table yet)
on the releases of its affected range that the index lists.
"""

from __future__ import annotations

import subprocess
import sys
from functools import lru_cache

from packaging.version import InvalidVersion, Version

from .errors import VllmPatchesError


class ReleaseIndexError(VllmPatchesError):
    """The package index could not be asked, or its answer could not be read."""


@lru_cache(maxsize=1)
def published_releases() -> tuple[str, ...]:
    """Every final vLLM release the index lists (no pre- or dev-releases), oldest first."""
    cmd = [sys.executable, "-m", "pip", "index", "versions", "vllm",
           "--disable-pip-version-check"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReleaseIndexError(_unreachable(str(exc))) from None
    for line in proc.stdout.splitlines():
        if line.startswith("Available versions:"):
            return _releases(line.split(":", 1)[1].split(","))
    last = next((ln.strip() for ln in reversed(proc.stderr.splitlines()) if ln.strip()), "")
    raise ReleaseIndexError(_unreachable(last or f"pip exited {proc.returncode}"))


def _releases(words: list[str]) -> tuple[str, ...]:
    found = {}
    for word in (w.strip() for w in words):
        try:
            version = Version(word)
        except InvalidVersion:
            continue
        if not (version.is_prerelease or version.is_devrelease):
            found[version] = word
    return tuple(found[v] for v in sorted(found))


def _unreachable(why: str) -> str:
    return f"The package index did not list vLLM's releases ({why})."
