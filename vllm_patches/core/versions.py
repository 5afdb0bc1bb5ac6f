"""Version ranges of the catalogue (``>=0.21.0,<0.23.0``), matched as PEP 440 does.

``packaging.version`` parses and orders versions. Its ``specifiers`` module
would also match ranges, but importing it pulls in ``packaging.tags`` and
costs about 15 ms, which ``vllm-patches status`` cannot afford (it must
answer within 100 ms). The catalogue needs only the six comparison operators,
matched here with PEP 440's rules for pre-, post- and local releases;
``tests/test_versions.py`` checks the result against ``SpecifierSet`` on many
versions. Pre-releases always match (a fork's ``0.22.2.dev12`` is what users
run).
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|<|>)\s*([^\s,]+)\s*$")


class InvalidRange(ValueError):
    """A range uses an operator or version this module does not match."""


def _public(v: Version) -> Version:
    return Version(v.public)


def _release_base(v: Version) -> Version:
    return Version(v.base_version)


def _matches(op: str, bound: Version, candidate: Version) -> bool:
    if op in ("==", "!="):
        same = (candidate if bound.local else _public(candidate)) == bound
        return same if op == "==" else not same
    if op == ">=":
        return _public(candidate) >= bound
    if op == "<=":
        return _public(candidate) <= bound
    if op == "<":
        if not candidate < bound:
            return False
        # PEP 440: "<V" excludes pre-releases of V itself, unless V is one.
        return bound.is_prerelease or not (
            candidate.is_prerelease and _release_base(candidate) == _release_base(bound)
        )
    # ">": excludes post-releases and local versions of V itself.
    if not _public(candidate) > bound:
        return False
    if not bound.is_postrelease and candidate.is_postrelease and \
            _release_base(candidate) == _release_base(bound):
        return False
    return not (candidate.local and _public(candidate) == bound)


class VersionRange:
    """A comma-separated list of clauses, all of which must match."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.clauses: list[tuple[str, Version]] = []
        for part in text.split(","):
            found = _CLAUSE.match(part)
            if not found:
                raise InvalidRange(text)
            op, raw = found.groups()
            try:
                self.clauses.append((op, Version(raw)))
            except InvalidVersion:
                raise InvalidRange(text) from None

    def __contains__(self, version: Version) -> bool:
        return all(_matches(op, bound, version) for op, bound in self.clauses)

    def __str__(self) -> str:
        return self.text
