"""vLLM's own tests, from the sdist on the package index pip is configured with.

``sdist_tests("0.27.0")`` returns ``<cache>/sdist-tests/0.27.0/``, which holds only the
``tests/`` folder of ``vllm-0.27.0.tar.gz`` (with ``manifest.json`` and ``.complete``
beside it): put the folder on ``sys.path`` and ``import tests.utils`` works, while
``vllm`` is still the installed one. ``pip download --no-binary :all:`` cannot fetch it
(pip builds the sdist's metadata and fails), so the file is found here through the
simple API (PEP 691 JSON, else PEP 503 HTML) of the indexes pip's configuration names,
in pip's order (``index-url``, then each ``extra-index-url``); no host is written in
this code. The index must state the file's sha256 and the bytes must match it. Fetched
once, under a lock; the tree is built in a temporary folder beside the cached one and
renamed in, so a reader sees all of it or none.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from http.client import HTTPException
from pathlib import Path

from packaging.utils import InvalidSdistFilename, canonicalize_name, parse_sdist_filename
from packaging.version import InvalidVersion, Version

from vllm_patches.core import messages
from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.files import (
    FileLock,
    NotJsonObject,
    cache_root,
    json_object,
    read_untrusted,
)
from vllm_patches.core.releases import canonical

PROJECT = "vllm"
SDIST_LIMIT = 512 << 20  # vLLM's sdists are about 40 MB
UNPACKED_LIMIT = 1 << 30  # tests/ unpacks to about 25 MB; an archive bomb stops here
PAGE_LIMIT = 32 << 20  # vLLM's JSON project page is well under 1 MB
TIMEOUT_S = 60
MANIFEST = "manifest.json"
_SIMPLE_ACCEPT = ("application/vnd.pypi.simple.v1+json, "
                  "application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Where pip reads a setting, weakest first: pip download reads its own section over
# global, and the environment over both; install's is what `pip install` users set.
_SECTIONS = ("global", "install", "download", ":env:")
_DEFAULT_INDEX = re.compile(r"--index-url\b.*?\(default\s+(\S+?)\)", re.DOTALL)


class SdistError(VllmPatchesError):
    """vLLM's sdist could not be found, fetched, checked or unpacked; nothing was kept."""


@dataclass(frozen=True)
class SdistFile:
    """The sdist as one index lists it."""

    filename: str
    url: str
    sha256: str | None
    index: str
    size: int | None = None


def sdist_folder(version: str) -> Path:
    """Where ``sdist_tests(version)`` keeps the release's ``tests/``."""
    return cache_root() / "sdist-tests" / canonical(version)


def is_cached(version: str) -> bool:
    """True when ``sdist_tests(version)`` needs no download."""
    return (sdist_folder(version) / ".complete").is_file()


def sdist_tests(version: str, *, progress: Callable[[str], None] | None = None,
                indexes: list[str] | None = None) -> Path:
    """The folder that holds ``tests/`` of vLLM ``version``'s sdist, fetched on first use.

    ``indexes``: the simple indexes to ask, in order (default: pip's configuration).
    ``progress(line)`` is called once before a download. ``SdistError`` (one sentence)
    when no index has the file, it has no sha256 there, or the bytes or archive are bad.
    """
    dest = sdist_folder(version)
    if (dest / ".complete").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(dest.parent / f".{dest.name}.lock", cleanup=lambda: _tidy(dest)):
        if not (dest / ".complete").is_file():
            _fetch(canonical(version), dest, progress,
                   pip_indexes() if indexes is None else indexes)
    return dest


def _tidy(dest: Path) -> None:
    """Remove the lock file (a waiter then locks a new one), and the folder when the fetch
    left it empty, so that a failure leaves nothing in the cache."""
    try:
        (dest.parent / f".{dest.name}.lock").unlink()
        dest.parent.rmdir()
    except OSError:
        pass


def _fetch(version: str, dest: Path, progress, indexes: list[str]) -> None:
    found = find_sdist(version, indexes)
    if found.sha256 is None:
        raise SdistError(messages.sdist_no_hash(found.filename, shown(found.index)))
    if progress is not None:
        progress(messages.sdist_fetching(version, shown(found.index), dest.parent))
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}-") as tmp:
        archive = _download(found, found.sha256, Path(tmp) / "sdist.tar.gz")
        staging = Path(tmp) / "tree"
        _unpack_tests(archive, staging, found.filename)
        manifest = {"version": version, "filename": found.filename, "sha256": found.sha256,
                    "index": shown(found.index)}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        (staging / ".complete").write_text(found.filename + "\n")  # last: the tree is whole
        if dest.exists():  # an interrupted older fetch's leftovers, never a complete one
            shutil.rmtree(dest)
        os.replace(staging, dest)


def read_manifest(version: str) -> dict[str, str] | None:
    """Where the cached ``tests/`` of ``version`` came from (version, filename, sha256,
    index), for display; None when it is not cached or its manifest is unusable."""
    try:
        data = json_object(read_untrusted(sdist_folder(version) / MANIFEST, limit=64 << 10))
    except (OSError, NotJsonObject):
        return None
    keys = ("version", "filename", "sha256", "index")
    if not all(isinstance(data.get(k), str) for k in keys) or not _SHA256.match(data["sha256"]):
        return None
    return {k: data[k] for k in keys}


# pip's configuration -------------------------------------------------------------------
def pip_indexes() -> list[str]:
    """The simple indexes ``pip download`` would ask, in its order: ``index-url`` (pip's
    default where none is configured), then each ``extra-index-url``."""
    config = _pip_config()
    if _setting(config, "no-index", "").lower() in ("1", "true", "yes", "on"):
        raise SdistError(messages.pip_no_index())
    index = _setting(config, "index-url", "").strip() or _pip_default_index()
    return [index, *_setting(config, "extra-index-url", "").split()]


def _setting(config: dict[str, str], key: str, default: str) -> str:
    """The value pip uses for ``key``: its strongest section's."""
    for section in reversed(_SECTIONS):
        if f"{section}.{key}" in config:
            return config[f"{section}.{key}"]
    return default


def _pip_config() -> dict[str, str]:
    """``python -m pip config list`` as {"section.key": value} (it lists the environment's
    ``PIP_*`` settings as section ``:env:``, each value as a Python string literal)."""
    out = _pip("config", "list")
    config = {}
    for line in out.splitlines():
        key, sep, raw = line.partition("=")
        if not sep:
            continue
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, str):
            config[key.strip()] = value
    return config


def _pip_default_index() -> str:
    """The index pip asks when none is configured, as ``pip download --help`` states it."""
    match = _DEFAULT_INDEX.search(_pip("download", "--help"))
    if match is None:
        raise SdistError(messages.pip_no_default_index())
    return match.group(1)


def _pip(*args: str) -> str:
    cmd = [sys.executable, "-m", "pip", *args]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SdistError(messages.pip_failed(" ".join(args), str(exc))) from None
    if result.returncode != 0:
        why = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
        raise SdistError(messages.pip_failed(" ".join(args), why))
    return result.stdout


def shown(url: str) -> str:
    """``url`` without the user name and password it may carry (never printed or kept)."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


# The index -----------------------------------------------------------------------------
def find_sdist(version: str, indexes: list[str]) -> SdistFile:
    """The first index's listing of vLLM ``version``'s sdist (``vllm-<version>.tar.gz``
    in any spelling of the version); ``SdistError`` naming what each index said."""
    wanted = Version(version)
    tried = []
    for index in indexes:
        base = _as_url(index)
        try:
            files = _project_files(base)
        except _IndexProblem as exc:
            tried.append(f"{shown(index)} ({exc})")
            continue
        for found in files:
            if _is_sdist_of(found.filename, wanted):
                return SdistFile(found.filename, found.url, found.sha256, index, found.size)
        tried.append(f"{shown(index)} (no vllm-{version}.tar.gz)")
    raise SdistError(messages.sdist_not_found(version, tried))


def _is_sdist_of(filename: str, wanted: Version) -> bool:
    try:
        name, version = parse_sdist_filename(filename)
    except (InvalidSdistFilename, InvalidVersion):
        return False
    return filename.endswith(".tar.gz") and name == PROJECT and version == wanted


class _IndexProblem(Exception):
    """Why one index gave no usable project page (words for a sentence)."""


def _as_url(index: str) -> str:
    """An index as a URL ending in ``/``: a local folder (as pip allows) becomes file://."""
    if "://" not in index:
        index = Path(index).expanduser().absolute().as_uri()
    return index if index.endswith("/") else index + "/"


def _project_files(base: str) -> list[SdistFile]:
    """The files of vLLM's project page on the index at ``base``."""
    page = urllib.parse.urljoin(base, f"{canonicalize_name(PROJECT)}/")
    if page.startswith("file:"):
        raw, page, is_json = _local_page(page)
    else:
        raw, page, is_json = _remote_page(page)
    files = _json_files(raw, page) if is_json else _html_files(raw, page)
    local = page.startswith("file:")
    # A remote index that points at local files would read this machine's files.
    return [f for f in files if f.url.startswith(("https:", "http:")) or
            (local and f.url.startswith("file:"))]


def _remote_page(url: str) -> tuple[bytes, str, bool]:
    request = urllib.request.Request(url, headers={"Accept": _SIMPLE_ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            raw = response.read(PAGE_LIMIT + 1)
            kind = response.headers.get_content_type()
            final = response.geturl()
    except urllib.error.HTTPError as exc:
        raise _IndexProblem(f"HTTP {exc.code} for its vllm page") from None
    except (OSError, ValueError, HTTPException) as exc:
        raise _IndexProblem(f"unreachable: {getattr(exc, 'reason', exc)}") from None
    if len(raw) > PAGE_LIMIT:
        raise _IndexProblem("its vllm page is too large")
    return raw, final, kind.endswith("json")


def _local_page(url: str) -> tuple[bytes, str, bool]:
    """A file:// index's project page: ``vllm/index.html`` or ``vllm/index.json`` in a
    folder, or a page file itself."""
    path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    candidates = [path / "index.json", path / "index.html"] if path.is_dir() else [path]
    for candidate in candidates:
        try:
            with open(candidate, "rb") as f:
                raw = f.read(PAGE_LIMIT + 1)
        except OSError:
            continue
        if len(raw) > PAGE_LIMIT:
            raise _IndexProblem("its vllm page is too large")
        return raw, candidate.as_uri(), candidate.suffix == ".json" or raw.lstrip()[:1] == b"{"
    raise _IndexProblem("no vllm page")


def _json_files(raw: bytes, page: str) -> list[SdistFile]:
    """The files of a PEP 691 JSON project page."""
    try:
        data = json.loads(raw.decode("utf-8"))
        entries = data["files"]
        if not isinstance(entries, list):
            raise TypeError
    except (ValueError, UnicodeDecodeError, KeyError, TypeError, RecursionError):
        raise _IndexProblem("its vllm page is not PEP 691 JSON") from None
    files = []
    for entry in entries:
        if not (isinstance(entry, dict) and isinstance(entry.get("filename"), str)
                and isinstance(entry.get("url"), str)):
            continue
        hashes = entry.get("hashes")
        if not isinstance(hashes, dict):
            hashes = {}
        size = entry.get("size") if isinstance(entry.get("size"), int) else None
        files.append(SdistFile(entry["filename"], urllib.parse.urljoin(page, entry["url"]),
                               _hash(hashes.get("sha256")), page, size))
    return files


def _html_files(raw: bytes, page: str) -> list[SdistFile]:
    """The files of a PEP 503 HTML project page (its anchors; the hash in ``#sha256=``)."""
    parser = _Anchors()
    try:
        parser.feed(raw.decode("utf-8", errors="replace"))
        parser.close()
    except (ValueError, AssertionError):
        raise _IndexProblem("its vllm page is not PEP 503 HTML") from None
    files = []
    for href in parser.hrefs:
        url, _, fragment = urllib.parse.urljoin(page, href).partition("#")
        name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
        algo, _, digest = fragment.partition("=")
        files.append(SdistFile(name, url, _hash(digest) if algo == "sha256" else None, page))
    return files


def _hash(value: object) -> str | None:
    return value.lower() if isinstance(value, str) and _SHA256.match(value.lower()) else None


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        href = dict(attrs).get("href") if tag == "a" else None
        if href:
            self.hrefs.append(href)


# The file ------------------------------------------------------------------------------
def _download(found: SdistFile, sha256: str, dest: Path) -> Path:
    """Stream ``found`` into ``dest``, checking its size bound and ``sha256``."""
    if found.size is not None and found.size > SDIST_LIMIT:
        raise SdistError(messages.sdist_too_large(found.filename, SDIST_LIMIT >> 20))
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(found.url, timeout=TIMEOUT_S) as response, \
                open(dest, "xb") as out:
            while chunk := response.read(1 << 20):
                size += len(chunk)
                if size > SDIST_LIMIT:
                    raise SdistError(messages.sdist_too_large(found.filename, SDIST_LIMIT >> 20))
                digest.update(chunk)
                out.write(chunk)
    except (OSError, ValueError, HTTPException) as exc:
        raise SdistError(messages.sdist_download_failed(
            found.filename, shown(found.url), str(getattr(exc, "reason", exc)))) from None
    if digest.hexdigest() != sha256:
        raise SdistError(messages.sdist_hash_mismatch(found.filename, shown(found.index),
                                                      sha256, digest.hexdigest()))
    return dest


def _unpack_tests(archive: Path, staging: Path, filename: str) -> None:
    """Unpack the regular files under ``<top>/tests/`` of the sdist into ``staging/tests``.

    Every member's name is checked (no absolute path, no ``..``, one top-level folder);
    under tests/ only regular files and folders are allowed (a link or a device refuses
    the archive). tarfile's ``data`` filter checks each member again where it exists.
    """
    unpack = staging.parent / "unpack"
    top = None
    total = 0
    try:
        with tarfile.open(archive, "r:gz") as tf:
            for member in tf:
                parts = _member_parts(member.name, filename)
                top = top or parts[0]
                if parts[0] != top:
                    raise SdistError(messages.sdist_bad_archive(
                        filename, "it has more than one top-level folder"))
                if len(parts) < 3 or parts[1] != "tests":
                    continue
                if member.isdir():
                    continue
                if not member.isreg():
                    raise SdistError(messages.sdist_bad_archive(
                        filename, f"its member {member.name} is not a regular file"))
                total += member.size
                if total > UNPACKED_LIMIT:
                    raise SdistError(messages.sdist_bad_archive(
                        filename, f"its tests/ unpack to more than {UNPACKED_LIMIT >> 20} MiB"))
                member.name = "/".join(parts)
                _extract(tf, member, unpack, filename)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise SdistError(messages.sdist_bad_archive(filename, f"it cannot be read ({exc})")
                         ) from None
    if top is None or not (unpack / top / "tests").is_dir():
        raise SdistError(messages.sdist_bad_archive(filename, "it holds no tests/ folder"))
    staging.mkdir()
    os.replace(unpack / top / "tests", staging / "tests")


def _member_parts(name: str, filename: str) -> list[str]:
    """The components of a member's name, normalised; ``SdistError`` for one that is
    absolute or climbs out with ``..``."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise SdistError(messages.sdist_bad_archive(filename, f"its member {name} is absolute"))
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts or not parts:
        raise SdistError(messages.sdist_bad_archive(
            filename, f"its member {name!r} leaves the archive's folder"))
    return parts


def _extract(tf: tarfile.TarFile, member: tarfile.TarInfo, folder: Path, filename: str
             ) -> None:
    if hasattr(tarfile, "data_filter"):
        try:
            tf.extract(member, folder, filter="data")
        except tarfile.FilterError as exc:
            raise SdistError(messages.sdist_bad_archive(filename, str(exc))) from None
    else:  # Python < 3.10.12 / 3.11.4: the checks above are the whole check
        tf.extract(member, folder)
