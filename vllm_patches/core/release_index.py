"""vLLM's releases on PyPI, and the releases a ``--releases`` option names.

``pypi_releases()`` lists the vLLM versions that have a wheel ``release_tree``
can fetch (``pip index versions vllm`` for the same platforms), kept for a day
in the user cache (``vllm-releases.json`` beside ``releases/``), so that a
range costs one pip call a day. ``parse_releases`` reads a ``--releases``
value::

    parse_releases("0.21.0..0.28.0")   # every release on PyPI in it, oldest first
    parse_releases("0.25.0..")         # from 0.25.0 to the latest
    parse_releases("0.21.0,0.22.1")    # exactly those

Ranges hold final releases and their post-releases, never pre-releases. A
version that is not on PyPI, a malformed value or an empty range is a
``ReleaseIndexError``: one sentence, before anything is fetched or written.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from packaging.version import InvalidVersion, Version

from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.files import write_atomic
from vllm_patches.core.releases import _PLATFORMS, cache_root

MAX_AGE_S = 24 * 3600  # the list is asked again after a day
RECHECK_S = 60  # ... or when a version asked for is not in a list older than this
_AVAILABLE = re.compile(r"^Available versions:\s*(.*)$", re.MULTILINE)


class ReleaseIndexError(VllmPatchesError):
    """A --releases value is malformed, names no release on PyPI, or PyPI cannot be asked."""


def _list_path() -> Path:
    return cache_root() / "vllm-releases.json"


def pypi_releases(*, refresh: bool = False) -> tuple[Version, ...]:
    """vLLM's versions on PyPI that have a wheel for the platforms ``release_tree`` fetches,
    oldest first (the cached list unless it is older than a day, or ``refresh``)."""
    cached = _read_cache()
    if cached is not None and not refresh and time.time() - cached[0] < MAX_AGE_S:
        return cached[1]
    try:
        versions = _ask_pip()
    except ReleaseIndexError:
        if cached is not None:  # offline: an old list is better than none
            return cached[1]
        raise
    _write_cache(versions)
    return versions


def _cache_age() -> float | None:
    cached = _read_cache()
    return None if cached is None else time.time() - cached[0]


def _read_cache() -> tuple[float, tuple[Version, ...]] | None:
    try:
        data = json.loads(_list_path().read_text(encoding="utf-8"))
        return float(data["fetched"]), tuple(sorted(Version(v) for v in data["versions"]))
    except (OSError, ValueError, KeyError, TypeError, InvalidVersion):
        return None


def _write_cache(versions: tuple[Version, ...]) -> None:
    path = _list_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"fetched": time.time(),
                                       "versions": [str(v) for v in versions]}))
    except OSError:
        pass  # a cache that cannot be written costs one pip call next time, nothing more


def _ask_pip() -> tuple[Version, ...]:
    cmd = [sys.executable, "-m", "pip", "index", "versions", "vllm", "--only-binary=:all:",
           "--disable-pip-version-check"]
    for platform in _PLATFORMS:
        cmd += ["--platform", platform]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReleaseIndexError(_cannot_list(str(exc))) from None
    found = _AVAILABLE.search(proc.stdout)
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip().splitlines() or ["no answer"])[-1]
        raise ReleaseIndexError(_cannot_list(last))
    versions = []
    for raw in found.group(1).split(","):
        try:
            versions.append(Version(raw.strip()))
        except InvalidVersion:
            continue
    return tuple(sorted(versions))


def parse_releases(spec: str) -> tuple[str, ...]:
    """The releases that ``spec`` names (see the module's docstring), oldest first."""
    spec = spec.strip()
    if ".." in spec:
        first, _, last = spec.partition("..")
        low = _version(first, spec) if first.strip() else None
        high = _version(last, spec) if last.strip() else None
        if low is not None and high is not None and low > high:
            raise ReleaseIndexError(_reversed(spec))
        known = _known([v for v in (low, high) if v is not None])
        chosen = [v for v in known if not v.is_prerelease and not v.is_devrelease
                  and (low is None or v >= low) and (high is None or v <= high)]
        if not chosen:
            raise ReleaseIndexError(_empty_range(spec, known))
        return tuple(str(v) for v in chosen)
    parts = [p.strip() for p in spec.split(",")]
    if not all(parts):
        raise ReleaseIndexError(_malformed(spec))
    wanted = sorted({_version(p, spec) for p in parts})
    known = _known(wanted)
    missing = [v for v in wanted if v not in known]
    if missing:
        raise ReleaseIndexError(_not_on_pypi(missing, known))
    return tuple(str(v) for v in wanted)


def _known(asked: list[Version]) -> tuple[Version, ...]:
    """PyPI's list, asked again once when it lacks a version named (a new release)."""
    known = pypi_releases()
    if any(v not in known for v in asked) and (_cache_age() or 0) > RECHECK_S:
        known = pypi_releases(refresh=True)
    return known


def _version(raw: str, spec: str) -> Version:
    try:
        return Version(raw.strip())
    except InvalidVersion:
        raise ReleaseIndexError(_malformed(spec)) from None


# Messages -----------------------------------------------------------------------
def _cannot_list(why: str) -> str:
    return (f"Cannot list vLLM's releases on PyPI with pip index versions ({why}); check the "
            "network or pip's index settings, then run the command again.")


def _malformed(spec: str) -> str:
    return (f"'{spec}' is not a list of vLLM releases (examples: --releases 0.21.0..0.28.0, "
            "--releases 0.25.0.., --releases 0.21.0,0.22.1).")


def _reversed(spec: str) -> str:
    return f"The release range '{spec}' ends before it starts; write it oldest first."


def _span(known: tuple[Version, ...]) -> str:
    return f"{known[0]} to {known[-1]}" if known else "none listed"


def _empty_range(spec: str, known: tuple[Version, ...]) -> str:
    return f"No vLLM release on PyPI lies in {spec} (its releases run {_span(known)})."


def _not_on_pypi(missing: list[Version], known: tuple[Version, ...]) -> str:
    names = ", ".join(str(v) for v in missing)
    verb = "is" if len(missing) == 1 else "are"
    return (f"vLLM {names} {verb} not on PyPI with a wheel vllm-patches can fetch (its "
            f"releases run {_span(known)}).")


def published_releases() -> tuple[str, ...]:
    """Every final vLLM release the index lists (no pre- or dev-releases), oldest first, as
    text: what ``catalog check`` checks a patch with no ``seen`` table on."""
    return tuple(str(v) for v in pypi_releases() if not (v.is_prerelease or v.is_devrelease))
