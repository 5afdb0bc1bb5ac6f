"""Upstream's tests that may prove a fix: what changed in vLLM's tests where the fix landed.

``candidate_tests("0.26.0", "0.27.0", ["check_stop_strings", "detokenizer"])`` compares
the ``tests/`` of the two releases' sdists (``core.sdist``) and lists the test files that
are new or changed in the first fixed release and mention one of the needles (as a whole
identifier): upstream's regression test for the bug is usually among them, for the
author to choose. ``catalog fingerprint`` prints them once it knows both releases.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from packaging.version import Version

from vllm_patches.core.sdist import sdist_tests
from vllm_patches.core.words import Word


class Change(Word):
    """How a test file of the first fixed release differs from the last affected one's."""

    NEW = "new"
    CHANGED = "changed"


@dataclass(frozen=True)
class Candidate:
    path: str  # tests/detokenizer/test_check_stop_strings.py
    change: Change
    needles: tuple[str, ...]  # the needles its text mentions

    def to_dict(self) -> dict:
        return {"path": self.path, "change": str(self.change), "needles": list(self.needles)}


def candidate_tests(last_affected: str, first_fixed: str, needles: list[str], *,
                    progress: Callable[[str], None] | None = None) -> list[Candidate]:
    """The test files new or changed from ``last_affected``'s sdist to ``first_fixed``'s
    that mention one of ``needles``: new ones first, then those that mention more needles.
    ``SdistError`` when a sdist cannot be had."""
    before = sdist_tests(last_affected, progress=progress)
    after = sdist_tests(first_fixed, progress=progress)
    patterns = {n: re.compile(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])")
                for n in dict.fromkeys(needles) if n}
    found = []
    for path in sorted((after / "tests").rglob("*.py")):
        if not _is_test_file(path.name) or not path.is_file():
            continue
        rel = path.relative_to(after).as_posix()
        new = path.read_bytes()
        old_path = before / rel
        if old_path.is_file() and old_path.read_bytes() == new:
            continue
        text = new.decode("utf-8", errors="replace")
        hits = tuple(n for n, pattern in patterns.items() if pattern.search(text))
        if hits:
            found.append(Candidate(rel, Change.CHANGED if old_path.is_file() else Change.NEW,
                                   hits))
    return sorted(found, key=lambda c: (c.change != Change.NEW, -len(c.needles), c.path))


def _is_test_file(name: str) -> bool:
    """pytest's default test files: test_*.py and *_test.py."""
    return name.startswith("test_") or name.endswith("_test.py")


def needles_of(wraps) -> list[str]:
    """What a patch's tests would mention: each wrapped function's name (its class's for a
    dunder such as ``__init__``, which every file mentions) and its module's last part."""
    out = []
    for wrap in wraps:
        name = wrap.class_name if wrap.name.startswith("__") and wrap.class_name else wrap.name
        out += [name, wrap.module.rsplit(".", 1)[-1]]
    return list(dict.fromkeys(out))


def releases_around_fix(survey) -> tuple[str, str] | None:
    """(last affected, first fixed) of a ``catalog fingerprint`` survey: the fix's release
    (``--fixed-in`` or applied-upstream, else the first with a fixed shape), and the last
    release recorded with every wrap's pre-fix shape before it; None when either is
    unknown."""
    from vllm_patches.authoring.fingerprint import Seen, release_states

    states = release_states(survey.wraps)
    fixed = [v for v, state in states.items() if state == Seen.FIXED]
    first_fixed = survey.boundary or min(fixed, default=None)
    if first_fixed is None:
        return None
    pre = [v for v, state in states.items() if state == Seen.PRE_FIX and v < first_fixed]
    if not pre:
        return None
    return str(max(pre)), str(Version(str(first_fixed)))

