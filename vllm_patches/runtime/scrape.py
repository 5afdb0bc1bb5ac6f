"""A vLLM server's ``/metrics`` read back: what ``vllm-patches status --metrics URL`` shows.

``read(url)`` fetches the page (``urllib``, bounded in time and size), parses it with
prometheus_client's own text parser (vLLM's dependency; a machine without it is told so
in one sentence) and keeps the ``vllm_patches_`` families that ``runtime.metrics`` exports:
per patch, how many of the server's processes run the fix, found it not needed, or do not
run it, and how many armed vllm-patches at all. ``check`` decides, as ``report.check`` does
for a report file, whether they prove every patch in place: no ``vllm_patches_`` sample,
a page that counts the API server's process alone, no sample for a patch ID asked about,
or a patch that applies to the server's vLLM and is not in place in a process, is no pass.

A URL that is not http(s), a server that cannot be reached or answers with an error, and a
page that is not Prometheus text are bad input (``ScrapeError``, exit 2): nothing was read.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.runtime import messages
from vllm_patches.runtime.metrics import (
    ARMED,
    IN_PLACE,
    MULTIPROCESS_LABEL,
    NOT_IN_PLACE,
    NOT_NEEDED,
    OUTCOME_LABEL,
    PREFIX,
)

__all__ = ["PAGE_LIMIT", "TIMEOUT", "ScrapeError", "PatchCounts", "ServerMetrics",
           "metrics_url", "fetch", "parse", "mark_applies", "read", "check"]

PAGE_LIMIT = 16 << 20  # bytes: vLLM's page is some 100 KB; an endless one stops here
TIMEOUT = 10.0  # seconds to connect, and between two reads


class ScrapeError(VllmPatchesError):
    """The URL cannot be read as a metrics page (bad input): nothing was read."""


@dataclass
class PatchCounts:
    """One patch across the server's processes."""

    id: str
    in_place: int = 0
    not_needed: int = 0
    not_in_place: dict[str, int] = field(default_factory=dict)  # outcome -> processes
    applies: bool = True  # the server's vLLM is in the patch's affected range (or unknown)

    @property
    def failing(self) -> int:
        return sum(self.not_in_place.values())

    @property
    def judged(self) -> int:
        """Processes that imported the patch's target and judged it."""
        return self.in_place + self.not_needed + self.failing

    def to_dict(self, armed: int) -> dict[str, object]:
        return {"id": self.id, "applies": self.applies, "in_place": self.in_place,
                "not_needed": self.not_needed, "not_in_place": dict(self.not_in_place),
                "target_not_imported": max(armed - self.judged, 0)}


@dataclass
class ServerMetrics:
    """What one ``/metrics`` page says about vllm-patches in that server's processes."""

    url: str
    armed: int = 0
    multiprocess: bool = False  # True: the page sums every process, not the API server's alone
    vllm: tuple[str, ...] = ()  # the vLLM versions its processes report (one, normally)
    vllm_patches: tuple[str, ...] = ()
    patches: dict[str, PatchCounts] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        """False for a page without any vllm_patches_ sample."""
        return bool(self.armed or self.patches or self.vllm_patches)

    def to_dict(self) -> dict[str, object]:
        return {"url": self.url, "vllm": list(self.vllm), "vllm_patches": list(self.vllm_patches),
                "processes_armed": self.armed, "multiprocess": self.multiprocess,
                "patches": [p.to_dict(self.armed) for p in self.patches.values()]}


def metrics_url(url: str) -> str:
    """``url`` checked: http or https with a host; an empty path means ``/metrics``."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError:
        raise ScrapeError(messages.metrics_bad_url(url)) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ScrapeError(messages.metrics_bad_url(url))
    if parts.path in ("", "/"):
        parts = parts._replace(path="/metrics")
    return urllib.parse.urlunsplit(parts)


def fetch(url: str, timeout: float = TIMEOUT) -> str:
    """The page at ``url`` (checked by ``metrics_url`` first), as text."""
    request = urllib.request.Request(url, headers={"Accept": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read(PAGE_LIMIT + 1)
    except urllib.error.HTTPError as exc:
        raise ScrapeError(messages.metrics_http_error(url, exc.code, exc.reason)) from None
    except urllib.error.URLError as exc:
        raise ScrapeError(messages.metrics_unreachable(url, exc.reason)) from None
    except TimeoutError:
        raise ScrapeError(messages.metrics_timeout(url, timeout)) from None
    except (http.client.HTTPException, OSError, ValueError) as exc:
        raise ScrapeError(messages.metrics_unreachable(url, exc)) from None
    if len(data) > PAGE_LIMIT:
        raise ScrapeError(messages.metrics_too_large(url, PAGE_LIMIT))
    return data.decode("utf-8", errors="replace")


def parse(text: str, url: str) -> ServerMetrics:
    """The vllm_patches_ families of a Prometheus text page, summed over their series."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        raise ScrapeError(messages.metrics_no_prometheus_client()) from None
    server = ServerMetrics(url)
    vllm, ours = set(), set()
    try:
        for family in text_string_to_metric_families(text):
            if not family.name.startswith(PREFIX):
                continue
            for sample in family.samples:
                _add(server, sample.name, sample.labels, sample.value)
                if sample.value:
                    vllm.add(sample.labels.get("vllm_version", ""))
                    ours.add(sample.labels.get("vllm_patches_version", ""))
    except (ValueError, TypeError, IndexError, KeyError) as exc:  # the parser's "not metrics"
        raise ScrapeError(messages.metrics_not_prometheus(url, exc)) from None
    server.vllm = tuple(sorted(v for v in vllm if v))
    server.vllm_patches = tuple(sorted(v for v in ours if v))
    return server


def _add(server: ServerMetrics, name: str, labels: dict, value: float) -> None:
    count = int(round(value))
    if name == ARMED:
        server.armed += count
        if count and labels.get(MULTIPROCESS_LABEL) == "true":
            server.multiprocess = True
    elif name in (IN_PLACE, NOT_NEEDED, NOT_IN_PLACE) and labels.get("patch"):
        patch = server.patches.setdefault(labels["patch"], PatchCounts(labels["patch"]))
        if name == IN_PLACE:
            patch.in_place += count
        elif name == NOT_NEEDED:
            patch.not_needed += count
        elif count:
            outcome = labels.get(OUTCOME_LABEL) or "unknown"
            patch.not_in_place[outcome] = patch.not_in_place.get(outcome, 0) + count


def read(url: str, ids=(), timeout: float = TIMEOUT) -> ServerMetrics:
    """Fetch and parse ``url``; only the patches ``ids`` when given; ``applies`` set from
    this machine's catalogue for the server's vLLM version."""
    url = metrics_url(url)
    server = parse(fetch(url, timeout), url)
    if ids:
        server.patches = {i: p for i, p in server.patches.items() if i in ids}
    return mark_applies(server)


def mark_applies(server: ServerMetrics) -> ServerMetrics:
    """``server`` with each patch's ``applies`` set from this machine's catalogue: a patch
    applies unless every vLLM version the server reports is outside its range; one this
    catalogue does not know, or a version that is no version, applies (no pass unproved)."""
    from packaging.version import InvalidVersion, Version

    from vllm_patches.core.catalog import load_catalog

    known = {p.id: p for p in load_catalog()}
    try:
        versions = [Version(v.split("+")[0]) for v in server.vllm]
    except InvalidVersion:
        return server
    for counts in server.patches.values():
        patch = known.get(counts.id)
        if patch is not None and versions:
            counts.applies = any(patch.affects(v) for v in versions)
    return server


def check(server: ServerMetrics, ids=()) -> str | None:
    """None when the page proves every patch asked about (all without ``ids``) in place or
    not needed in each process that imported its target; else why not, in one sentence."""
    if not server.found:
        return messages.metrics_none(server.url)
    if not server.multiprocess:
        return messages.metrics_api_server_only(server.url)
    missing = [i for i in ids if i not in server.patches or not server.patches[i].judged]
    if missing:
        return messages.metrics_not_judged(server.url, missing)
    failing = {p.id: p.not_in_place for p in server.patches.values() if p.applies and p.failing}
    if failing:
        return messages.metrics_not_in_place(server.url, failing)
    return None
