"""The patch catalogue: ``patches/<id>/patch.toml`` plus the fix it points to.

Every file is checked when it is loaded; a bad one raises ``CatalogError``
naming the file and the field. ``read_patch`` is the one validator of
``patch.toml`` (docs/patch-format.md lists its fields): ``Stage.COMPLETE`` for a
patch that is applied, ``Stage.DRAFT`` for one being written (``catalog new``,
``catalog fingerprint``), which may still lack what those commands and the
author fill in later. ``load_catalog`` refuses the whole catalogue
for one bad entry (the command line, strict mode); ``load_catalog_report``
and ``runtime_catalog`` keep the good entries and set the bad ones aside, so
that at run time one bad entry costs only its own patch, with one warning.
Nothing here imports torch or vLLM.
"""

from __future__ import annotations

import ast
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from packaging.version import InvalidVersion, Version

from vllm_patches.core import messages
from vllm_patches.core.catalog_files import PACKAGE_DIR
from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.shape import class_prints
from vllm_patches.core.versions import InvalidRange, VersionRange
from vllm_patches.core.words import Word

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ORIGINAL_PREFIX = "_vllm_patches_orig_"

logger = logging.getLogger("vllm_patches")


class CatalogError(VllmPatchesError):
    """A catalogue file is missing, unreadable or has a bad field."""


class Stage(Word):
    """How finished a ``patch.toml`` must be for the one reading it."""

    # Being written: pre-fix may be empty, affected missing or a TODO, why, how and
    # drop-when missing or empty, and fix.py need not exist yet. Every field that is
    # there is checked as in a complete patch.
    DRAFT = "draft"
    COMPLETE = "complete"  # applied: everything the fix needs is there


# The prose every patch carries, and what each says (docs/patch-format.md). A field
# whose value still starts with TODO (as ``catalog new`` writes it) fails ``catalog check``.
PROSE = {
    "why": "the bug and its effect",
    "how": "what the fix changes",
    "drop-when": "when to drop the patch: the vLLM release from which upstream has the fix, "
                 "or for a fix upstream lacks, the condition",
}
OLD_DESCRIPTION = "description"  # the old spelling of why (read as it for one release)
TODO = "TODO"


class Kind(Word):
    """What a wrapped name is in vLLM's code (the fix's definition has the same kind)."""

    METHOD = "method"
    CLASSMETHOD = "classmethod"
    STATICMETHOD = "staticmethod"
    PROPERTY = "property"
    FUNCTION = "function"  # a module-level function

    @classmethod
    def of(cls, node: ast.FunctionDef | ast.AsyncFunctionDef, in_class: bool) -> Kind:
        """The kind a definition has, read from its decorators."""
        if not in_class:
            return cls.FUNCTION
        names = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
        for kind in (cls.CLASSMETHOD, cls.STATICMETHOD, cls.PROPERTY):
            if kind.value in names:
                return kind
        return cls.METHOD


@dataclass(frozen=True)
class Wrap:
    """A vLLM function (method, classmethod, staticmethod, property or module-level
    function) that the fix wraps, and the shapes it is known in."""

    name: str
    pre_fix: frozenset[str]
    fixed_upstream: frozenset[str] = frozenset()
    fixed_if_uses: str | None = None
    kind: Kind = Kind.METHOD
    # fingerprint -> the vLLM releases it was seen in (``catalog fingerprint`` writes it)
    seen: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def original_name(self) -> str:
        return ORIGINAL_PREFIX + self.name


def dotted(*parts: str | None) -> str:
    """The one way a target's names are written: the parts that are there, joined by dots.
    ``module.Class.method``, ``module.function`` (a function without a class, never
    ``module.None.function``), ``Class.method`` or ``function`` (a ``__qualname__``)."""
    return ".".join(part for part in parts if part)


@dataclass(frozen=True)
class Target:
    """One scope of one vLLM module that a patch changes: a class (its methods,
    classmethods, staticmethods and properties), or the module itself (its functions)
    when ``class_name`` is None."""

    module: str
    class_name: str | None
    wraps: tuple[Wrap, ...]
    adds: tuple[str, ...]

    @property
    def scope(self) -> str:
        """``module.Class`` or ``module``, for messages."""
        return dotted(self.module, self.class_name)

    def qualname(self, name: str) -> str:
        """``module.Class.name``, or ``module.name`` for a function of the module itself."""
        return dotted(self.module, self.class_name, name)

    @property
    def where_in_fix(self) -> str:
        """Where the fix defines this target's functions: ``class C``, or its module level."""
        return f"class {self.class_name}" if self.class_name else "the module level"

    @property
    def relpath(self) -> str:
        """Path of the module's file relative to the folder that holds ``vllm/``."""
        return self.module.replace(".", "/") + ".py"

    @property
    def method_names(self) -> tuple[str, ...]:
        """Every method of the fix that this target puts into the class."""
        return tuple(w.name for w in self.wraps) + self.adds


@dataclass(frozen=True)
class UpstreamTests:
    """``[upstream-tests]``: vLLM's own tests for a fix, read from vLLM's sdists.

    ``regression``: upstream's test for this bug, from the sdist of ``release`` (usually
    the first fixed one): it must fail unpatched and pass patched. ``module``: vLLM's tests
    of the patched code, read from the sdist of each release under test: nothing that
    passes unpatched may fail patched. ``none``: why there is no regression test. Each
    test is ``tests/<path>.py`` or a node id ``tests/<path>.py::name``.
    """

    release: Version | None
    regression: tuple[str, ...]
    module: tuple[str, ...]
    none: str | None
    since: Version | None = None  # the oldest release whose API the regression test calls

    def to_dict(self) -> dict[str, object]:
        return {"release": str(self.release) if self.release else None,
                "regression": list(self.regression), "module": list(self.module),
                "none": self.none, "since": str(self.since) if self.since else None}


@dataclass(frozen=True)
class Patch:
    id: str
    title: str
    why: str | None  # None: a draft's, not written yet
    how: str | None  # None: a draft's, or a patch that still has only a description
    drop_when: str | None
    origin: str
    upstream_pr: str
    bug: str
    applied_upstream: Version | None
    last_update: str
    affected: VersionRange | None  # None only in a draft (not fingerprinted yet)
    affected_text: str | None
    fix_path: Path
    targets: tuple[Target, ...]
    folder: Path = field(compare=False)
    upstream_commit: str | None = None  # the upstream commit of the fix, for cherry-picks
    excludes: tuple[str, ...] = ()  # ids of patches never to be applied beside this one
    after: tuple[str, ...] = ()  # ids of patches whose fix this one wraps, on a shared function
    stage: Stage = Stage.COMPLETE
    old_description: bool = False  # why was read from ``description`` (the old spelling)
    upstream_tests: UpstreamTests | None = None  # None: the patch does not say
    advisories: tuple[str, ...] = ()  # the security advisories it closes: GHSA-..., CVE-...
    severity: str | None = None  # the advisory's rating: low, medium, high, critical
    cvss: float | None = None  # the advisory's CVSS base score, where it gives one

    def prose(self, key: str) -> str | None:
        """The text of the prose field ``key`` of PROSE (``drop-when``: ``drop_when``)."""
        return getattr(self, key.replace("-", "_"))

    def unfinished(self) -> list[str]:
        """The prose fields still to be written: missing, or a TODO placeholder."""
        texts = {key: self.prose(key) or "" for key in PROSE}
        return [key for key, text in texts.items() if not text or text.upper().startswith(TODO)]

    @property
    def fix_source(self) -> str:
        return _read_fix(self.fix_path)

    def fix_prints(self, target: Target) -> dict[str, str]:
        """Fingerprints of the fix's methods for one target class."""
        return class_prints(self.fix_source, target.class_name).methods

    def fix_nodes(self, target: Target) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
        return class_prints(self.fix_source, target.class_name).nodes

    def affects(self, version: Version) -> bool:
        return self.affected is not None and version in self.affected

    def fixed_in(self, version: Version) -> bool:
        """True when ``version`` is at or past the release that ships the fix."""
        return self.applied_upstream is not None and version >= self.applied_upstream

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "why": self.why,
            "how": self.how,
            "drop_when": self.drop_when,
            "affected": self.affected_text,
            "origin": self.origin,
            "upstream_pr": self.upstream_pr,
            "bug": self.bug,
            "applied_upstream": str(self.applied_upstream) if self.applied_upstream else None,
            "upstream_commit": self.upstream_commit,
            "last_update": self.last_update,
            "excludes": list(self.excludes),
            "after": list(self.after),
            "upstream_tests": self.upstream_tests.to_dict() if self.upstream_tests else None,
            "advisories": list(self.advisories),
            "severity": self.severity,
            "cvss": self.cvss,
            "targets": [
                {"module": t.module, "class": t.class_name, "methods": list(t.method_names)}
                for t in self.targets
            ],
        }


def catalog_dir() -> Path:
    """The catalogue folder: inside the wheel, or ``patches/`` of a checkout."""
    from vllm_patches.core.catalog_files import find_catalog_dir

    found = find_catalog_dir()
    if found is None:
        raise CatalogError(messages.catalog_missing(Path(PACKAGE_DIR) / "_catalog"))
    return Path(found).resolve()


@cache
def _read_fix(path: Path) -> str:
    return _read_text(path)


def _read_text(path: Path) -> str:
    from vllm_patches.core.catalog_files import read_catalog_file
    from vllm_patches.core.files import untrusted_problem

    try:
        return read_catalog_file(path)
    except OSError as exc:
        raise CatalogError(messages.catalog_refused(path, untrusted_problem(exc))) from None
    except UnicodeDecodeError as exc:
        raise CatalogError(_not_utf8(path, exc)) from None


def fingerprint_command(path: Path) -> str:
    """The command that fills in the fingerprints and affected range of the patch whose
    ``patch.toml`` is ``path``."""
    folder = path.parent
    return (f"vllm-patches catalog fingerprint {folder.name} --catalog {folder.parent} "
            "--releases FIRST..LAST")


def run_fingerprint(path: Path) -> str:
    return f"run {fingerprint_command(path)} to fill it in"


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> str:
    return (f"Catalogue file {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} "
            f"at offset {exc.start}).")


class _Fields:
    """Typed access to one TOML table, with errors that name file and field."""

    def __init__(self, path: Path, table: dict, where: str = "",
                 stage: Stage = Stage.COMPLETE) -> None:
        self.path, self.table, self.where, self.stage = path, table, where, stage

    @property
    def draft(self) -> bool:
        return self.stage == Stage.DRAFT

    def _fail(self, key: str, problem: str) -> CatalogError:
        return CatalogError(messages.catalog_bad_field(self.path, self.where + key, problem))

    def text(self, key: str, default: str | None = None) -> str:
        value = self.table.get(key, default)
        if value is None:
            raise self._fail(key, "is required")
        if not isinstance(value, str) or not value.strip():
            raise self._fail(key, "must be a non-empty string")
        return value.strip()

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if key in self.table else None

    def strings(self, key: str, required: bool = False) -> tuple[str, ...]:
        value = self.table.get(key)
        if value is None:
            if required:
                raise self._fail(key, "is required")
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self._fail(key, "must be a list of strings")
        if required and not value:
            raise self._fail(key, "must not be empty")
        return tuple(value)

    def tables(self, key: str) -> list[_Fields]:
        value = self.table.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            raise self._fail(key, "must be a non-empty array of tables ([[...]])")
        return [_Fields(self.path, v, f"{self.where}{key}[{i}].", self.stage)
                for i, v in enumerate(value)]

    def prose(self, key: str) -> str | None:
        """A prose field: paragraphs, each one's whitespace collapsed (None: a draft's,
        not written yet)."""
        value = self.table.get(key)
        if self.draft and (value is None or isinstance(value, str) and not value.strip()):
            return None
        return _paragraphs(self.text(key))

    def version_range(self, key: str) -> VersionRange | None:
        """The range (None: a draft's, not fingerprinted yet)."""
        if self.draft and self.table.get(key) is None:
            return None
        raw = self.text(key)
        if raw.upper().startswith(TODO):  # as ``catalog new`` writes it
            if self.draft:
                return None
            raise self._fail(key, f"is still a TODO (the vLLM releases with the bug): "
                                  f"{run_fingerprint(self.path)}")
        try:
            return VersionRange(raw)
        except InvalidRange:
            raise self._fail(
                key, f"is not a version range of >=, <=, >, <, ==, != clauses: {raw!r}"
            ) from None

    def version(self, key: str) -> Version | None:
        raw = self.optional_text(key)
        if raw is None:
            return None
        try:
            return Version(raw)
        except InvalidVersion:
            raise self._fail(key, f"is not a PEP 440 version: {raw!r}") from None

    def commit(self, key: str) -> str | None:
        raw = self.optional_text(key)
        if raw is not None and not re.fullmatch(r"[0-9a-f]{7,40}", raw.lower()):
            raise self._fail(key, f"is not a git commit id (7 to 40 hex digits): {raw!r}")
        return raw.lower() if raw is not None else None


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODULE = re.compile(r"vllm(\.[A-Za-z_][A-Za-z0-9_]*)+")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a patch id is its folder's name


def _load_target(f: _Fields) -> Target:
    module = f.text("module")
    if not _MODULE.fullmatch(module):
        raise f._fail("module", f"must name a module of the vllm package, not {module!r}")
    class_name = f.optional_text("class")
    if class_name is not None and not _IDENTIFIER.fullmatch(class_name):
        raise f._fail("class", f"is not a Python name: {class_name!r}")
    default = Kind.METHOD if class_name is not None else Kind.FUNCTION
    wraps = tuple(_load_wrap(w, default) for w in f.tables("wraps"))
    adds = f.strings("adds")
    for name in (*(w.name for w in wraps), *adds):
        if not _IDENTIFIER.fullmatch(name):
            key = "wraps" if name not in adds else "adds"
            raise f._fail(key, f"is not a Python name: {name!r}")
    return Target(module=module, class_name=class_name, wraps=wraps, adds=adds)


def _load_wrap(w: _Fields, default: Kind) -> Wrap:
    raw = w.optional_text("kind")
    try:
        kind = Kind(raw) if raw is not None else default
    except ValueError:
        raise w._fail("kind", f"must be one of {', '.join(k.value for k in Kind)}, "
                              f"not {raw!r}") from None
    if (kind == Kind.FUNCTION) != (default == Kind.FUNCTION):
        raise w._fail("kind", "is 'function' exactly when the target names no class")
    if not w.table.get("pre-fix") and not w.draft:  # absent, or [] as catalog new writes it
        raise w._fail("pre-fix", f"is still empty (the fingerprints of vLLM's code before "
                                 f"the fix): {run_fingerprint(w.path)}")
    pre_fix = frozenset(w.strings("pre-fix", required=not w.draft))
    fixed_upstream = frozenset(w.strings("fixed-upstream"))
    return Wrap(
        name=w.text("name"),
        pre_fix=pre_fix,
        fixed_upstream=fixed_upstream,
        fixed_if_uses=w.optional_text("fixed-if-uses"),
        kind=kind,
        seen=_load_seen(w, pre_fix | fixed_upstream),
    )


def _load_seen(w: _Fields, known: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """``[targets.wraps.seen]``: each recorded fingerprint -> the releases it was seen in."""
    raw = w.table.get("seen")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise w._fail("seen", "must be a table of fingerprint = [release, ...]")
    seen = {}
    for fp, versions in raw.items():
        if fp not in known:
            raise w._fail(f"seen.{fp}", "names a fingerprint that is neither pre-fix nor "
                                        "fixed-upstream")
        if not isinstance(versions, list) or not versions or not all(
                isinstance(v, str) for v in versions):
            raise w._fail(f"seen.{fp}", "must be a non-empty list of release versions")
        for v in versions:
            try:
                Version(v)
            except InvalidVersion:
                raise w._fail(f"seen.{fp}", f"holds {v!r}, not a PEP 440 version") from None
        seen[fp] = tuple(versions)
    return seen


def load_patch(folder: Path) -> Patch:
    """Load and check one complete ``patches/<id>/`` folder: patch.toml and its fix."""
    patch = read_patch(folder, Stage.COMPLETE)
    _check_fix_covers_targets(patch)
    return patch


def read_patch(folder: Path, stage: Stage = Stage.COMPLETE) -> Patch:
    """The patch whose ``patch.toml`` is in ``folder``, every field checked for ``stage``
    (its fix file is only named here: ``load_patch`` reads it)."""
    return patch_from_toml(folder, parse_patch_toml(folder / "patch.toml")[1], stage)


def parse_patch_toml(path: Path) -> tuple[str, dict]:
    """The text of ``path`` and its data as TOML; CatalogError when it is neither."""
    text = _read_text(path)
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(messages.catalog_bad_toml(path, exc)) from None
    except RecursionError:
        raise CatalogError(messages.catalog_bad_toml(path, "nested too deep")) from None


def patch_from_toml(folder: Path, data: dict, stage: Stage) -> Patch:
    """The patch that ``data`` (``folder``'s patch.toml, parsed) describes, checked."""
    f = _Fields(folder / "patch.toml", data, stage=stage)
    patch_id = f.text("id")
    if patch_id != folder.name:
        raise f._fail("id", f"must equal the folder name {folder.name!r}")
    why, how, drop_when, old = _load_prose(f)
    affected = f.version_range("affected")
    return Patch(
        id=patch_id,
        title=f.text("title"),
        why=why,
        how=how,
        drop_when=drop_when,
        origin=f.text("origin"),
        upstream_pr=f.text("upstream-pr"),
        bug=f.text("bug"),
        applied_upstream=f.version("applied-upstream"),
        last_update=f.text("last-update"),
        affected=affected,
        affected_text=f.text("affected") if affected is not None else None,
        fix_path=_fix_path(f, folder),
        targets=tuple(_load_target(t) for t in f.tables("targets")),
        folder=folder,
        upstream_commit=f.commit("upstream-commit"),
        excludes=_load_excludes(f, patch_id),
        after=_load_after(f, patch_id),
        stage=stage,
        old_description=old,
        upstream_tests=_load_upstream_tests(f),
        advisories=_load_advisories(f),
        severity=_load_severity(f),
        cvss=_load_cvss(f),
    )


def _load_prose(f: _Fields) -> tuple[str | None, str | None, str | None, bool]:
    """why, how, drop-when, and whether why came from ``description`` (the old spelling:
    a patch.toml with a description and none of the three still loads, for one release)."""
    new = [key for key in PROSE if key in f.table]
    if OLD_DESCRIPTION in f.table:
        if new:
            raise f._fail(OLD_DESCRIPTION, f"is the old spelling of why: with {new[0]} there, "
                                           "write why, how and drop-when and drop description")
        return _paragraphs(f.text(OLD_DESCRIPTION)), None, None, True
    for key, meaning in PROSE.items():
        if key not in f.table and not f.draft:
            raise f._fail(key, f"is required ({meaning})")
    return f.prose("why"), f.prose("how"), f.prose("drop-when"), False


def _paragraphs(text: str) -> str:
    """``text`` with each paragraph's whitespace collapsed; one blank line between them."""
    return "\n\n".join(" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip())


def _fix_path(f: _Fields, folder: Path) -> Path:
    """The fix file that ``fix`` (in this folder) or ``fix-from`` (another patch's) names;
    a complete patch's must be there."""
    if "fix" in f.table and "fix-from" in f.table:
        raise f._fail("fix", "and fix-from exclude each other")
    fix_key = "fix-from" if "fix-from" in f.table else "fix"
    if fix_key == "fix-from":
        fix_path = folder.parent / f.text("fix-from") / "fix.py"
    else:
        fix_path = folder / f.text("fix")
    if not _inside(fix_path, folder.parent):
        raise f._fail(fix_key, f"must name a file inside the catalogue folder {folder.parent}")
    if not f.draft and not os.path.lexists(fix_path):  # a FIFO or a link: refused when read
        raise f._fail(fix_key, f"names no file: {fix_path}")
    return fix_path


def _load_excludes(f: _Fields, patch_id: str) -> tuple[str, ...]:
    """``excludes``: ids of patches that must never be applied beside this one (two fixes
    of one function written differently, say); each one is refused while the other is in."""
    return _patch_ids(f, "excludes", patch_id)


def _load_after(f: _Fields, patch_id: str) -> tuple[str, ...]:
    """``after``: ids of patches whose fix this one wraps where both wrap one function (the
    two compose, this one outside; see ``core.chains``)."""
    ids = _patch_ids(f, "after", patch_id)
    both = [i for i in ids if i in f.strings("excludes")]
    if both:
        raise f._fail("after", f"and excludes both list {both[0]}: a patch either composes "
                               "with another or excludes it")
    return ids


def _patch_ids(f: _Fields, key: str, patch_id: str) -> tuple[str, ...]:
    ids = f.strings(key)
    for other in ids:
        if not _ID.fullmatch(other):
            raise f._fail(key, f"must list patch ids, not {other!r}")
        if other == patch_id:
            raise f._fail(key, "must not list the patch itself")
    return tuple(dict.fromkeys(ids))


# GitHub's advisory ids use this alphabet in three groups of four; CVE ids a year and 4+ digits.
_ADVISORY = re.compile(r"GHSA(-[23456789cfghjmpqrvwx]{4}){3}|CVE-(19|20)\d\d-\d{4,}")
SEVERITIES = ("low", "medium", "high", "critical")


def _load_advisories(f: _Fields) -> tuple[str, ...]:
    """``advisories``: the GHSA and CVE ids of the security advisories the fix closes."""
    ids = f.strings("advisories")
    for advisory in ids:
        if not _ADVISORY.fullmatch(advisory):
            raise f._fail("advisories", f"must list GHSA-xxxx-xxxx-xxxx or CVE-YYYY-NNNN ids, "
                                        f"not {advisory!r}")
    return tuple(dict.fromkeys(ids))


def _load_severity(f: _Fields) -> str | None:
    severity = f.optional_text("severity")
    if severity is not None and severity.lower() not in SEVERITIES:
        raise f._fail("severity", f"must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    return severity.lower() if severity else None


def _load_cvss(f: _Fields) -> float | None:
    value = f.table.get("cvss")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10:
        raise f._fail("cvss", f"must be a CVSS base score from 0.0 to 10.0, not {value!r}")
    return float(value)


UPSTREAM_TESTS = "upstream-tests"
# tests/<folders>/<name>.py, then optionally ::name[::name] (a node id; parameters too)
_TEST_ID = re.compile(r"tests(/[A-Za-z0-9_.-]+)*/[A-Za-z0-9_-]+\.py(::[^\s:][^\s]*)?")


def _load_upstream_tests(f: _Fields) -> UpstreamTests | None:
    """``[upstream-tests]`` (None where the patch has none): ``regression`` with the
    ``release`` whose sdist holds it, or ``none`` saying why there is no such test; and
    ``module``. Paths are checked here, since the runner joins them to a folder."""
    raw = f.table.get(UPSTREAM_TESTS)
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise f._fail(UPSTREAM_TESTS, "must be a table ([upstream-tests])")
    t = _Fields(f.path, raw, f"{UPSTREAM_TESTS}.", f.stage)
    unknown = sorted(set(raw) - {"release", "regression", "module", "none", "since"})
    if unknown:
        raise t._fail(unknown[0], "is not a field of [upstream-tests] (release, regression, "
                                  "since, module, none)")
    regression, module, none = t.strings("regression"), t.strings("module"), \
        t.optional_text("none")
    for key, tests in (("regression", regression), ("module", module)):
        for test in tests:
            if not _TEST_ID.fullmatch(test) or "/../" in f"/{test}/" or "/./" in f"/{test}/":
                raise t._fail(key, f"must list tests/<path>.py or tests/<path>.py::name, "
                                   f"not {test!r}")
    if bool(regression) == bool(none):
        raise t._fail("regression", "or none (why there is no regression test) is required, "
                                    "not both")
    release = t.version("release")
    if regression and release is None:
        raise t._fail("release", "is required with regression (the vLLM release whose "
                                 "sdist holds that test)")
    since = t.version("since")
    if since is not None and not regression:
        raise t._fail("since", "needs regression (it says from which release that test fits)")
    return UpstreamTests(release, regression, module, _paragraphs(none) if none else None,
                         since)


def _inside(path: Path, root: Path) -> bool:
    """True when ``path``, links resolved, lies in ``root``."""
    try:
        path.resolve().relative_to(root.resolve())
    except (OSError, RuntimeError, ValueError):
        return False
    return True


def _check_fix_covers_targets(patch: Patch) -> None:
    for target in patch.targets:
        try:
            prints = class_prints(patch.fix_source, target.class_name)
        except (SyntaxError, ValueError) as exc:  # ValueError: a NUL byte, on older Pythons
            raise CatalogError(messages.catalog_bad_fix(patch.fix_path, str(exc))) from None
        except RecursionError:
            raise CatalogError(messages.catalog_bad_fix(patch.fix_path, "nested too deep")) \
                from None
        if not prints.class_found:
            raise CatalogError(
                messages.catalog_bad_fix(patch.fix_path, f"no {target.where_in_fix}")
            )
        missing = [name for name in target.method_names if name not in prints.methods]
        if missing:
            raise CatalogError(
                messages.catalog_bad_fix(
                    patch.fix_path, f"{target.where_in_fix} lacks {', '.join(missing)}"
                )
            )
        _check_kinds(patch, target, prints.nodes)


def _check_kinds(patch: Patch, target: Target, nodes: dict) -> None:
    """The fix defines each wrapped name as what it is in vLLM (a classmethod stays one)."""
    for wrap in target.wraps:
        found = Kind.of(nodes[wrap.name], target.class_name is not None)
        if found != wrap.kind:
            raise CatalogError(messages.catalog_bad_fix(
                patch.fix_path, f"{wrap.name} is a {found} in the fix but the target's kind "
                                f"is {wrap.kind}"))


@dataclass(frozen=True)
class CatalogProblem:
    """A catalogue entry that cannot be loaded: its folder and why, in one sentence."""

    folder: Path
    message: str

    @property
    def id(self) -> str:
        return self.folder.name


def load_catalog(folder: Path | None = None) -> tuple[Patch, ...]:
    """Every patch of every catalogue (or of ``folder`` alone), sorted by id; CatalogError
    for the first bad entry or id clash."""
    patches, problems = load_catalog_report(folder)
    if problems:
        raise CatalogError(problems[0].message)
    return patches


def load_catalog_report(folder: Path | None = None
                        ) -> tuple[tuple[Patch, ...], tuple[CatalogProblem, ...]]:
    """The good patches of every catalogue (or of ``folder``), sorted by id, and one problem
    per bad entry, per unusable catalogue folder and per id that two catalogues share."""
    if folder is not None:
        return _scan(Path(folder))
    return _merge(catalog_roots())


def catalog_roots() -> tuple[Path, ...]:
    """Every catalogue folder: the built-in one, then the users' (see ``catalog_files``)."""
    from vllm_patches.core.catalog_files import user_roots

    return (catalog_dir(), *(Path(r).expanduser().resolve() for r in user_roots()))


def builtin(patch: Patch) -> bool:
    """True for a patch of the catalogue that ships with vllm-patches."""
    return patch.folder.parent == catalog_dir()


@cache
def _merge(roots: tuple[Path, ...]) -> tuple[tuple[Patch, ...], tuple[CatalogProblem, ...]]:
    patches: list[Patch] = []
    problems: list[CatalogProblem] = []
    for root in dict.fromkeys(roots):
        if not root.is_dir():
            problems.append(CatalogProblem(root, _not_a_catalogue(root)))
            continue
        found, bad = _scan(root)
        patches += found
        problems += bad
    by_id: dict[str, list[Patch]] = {}
    for patch in patches:
        by_id.setdefault(patch.id, []).append(patch)
    for patch_id, same in by_id.items():
        if len(same) > 1:  # neither wins: the user must rename one
            problems.append(CatalogProblem(same[-1].folder, _clash(patch_id, same)))
    good = [p for p in patches if len(by_id[p.id]) == 1]
    unordered = order_problems(good)
    problems += unordered
    refused = {p.folder for p in unordered}
    return tuple(sorted((p for p in good if p.folder not in refused), key=lambda p: p.id)), \
        tuple(problems)


def order_problems(patches) -> list[CatalogProblem]:
    """One problem per patch whose ``after`` names no patch of ``patches``, or lies on a
    cycle of ``after`` (no order can put each outside the ones it names)."""
    by_id = {p.id: p for p in patches}
    found = [CatalogProblem(p.folder, messages.after_unknown(p.folder / "patch.toml", p.id, i))
             for p in patches for i in p.after if i not in by_id]
    for cycle in _cycles({p.id: [i for i in p.after if i in by_id] for p in patches}):
        found += [CatalogProblem(by_id[i].folder, messages.after_cycle(
            by_id[i].folder / "patch.toml", cycle[cycle.index(i):] + cycle[:cycle.index(i)]))
            for i in cycle]
    return found


def _cycles(edges: dict[str, list[str]]) -> list[list[str]]:
    """The cycles of the graph ``edges`` (id -> ids it names) that a depth-first walk meets,
    each as the list of its ids (every node is walked once)."""
    cycles: list[list[str]] = []
    finished: set[str] = set()
    path: list[str] = []

    def walk(node: str) -> None:
        if node in path:
            cycles.append(path[path.index(node):])
            return
        if node in finished:
            return
        path.append(node)
        for nxt in edges.get(node, ()):
            walk(nxt)
        finished.add(path.pop())

    for start in sorted(edges):
        walk(start)
    return cycles


def _not_a_catalogue(root: Path) -> str:
    return f"Catalogue folder {root} does not exist or is not a folder."


def _clash(patch_id: str, same: list[Patch]) -> str:
    folders = " and ".join(str(p.folder) for p in same)
    return (f"Patch id {patch_id} is defined twice, in {folders}: ids must be unique across "
            "catalogues (rename one).")


@cache
def _scan(root: Path) -> tuple[tuple[Patch, ...], tuple[CatalogProblem, ...]]:
    try:
        entries = sorted(root.iterdir())
    except OSError as exc:
        raise CatalogError(messages.catalog_unreadable(root, exc)) from None
    patches, problems = [], []
    for child in entries:
        if not (child.is_dir() and os.path.lexists(child / "patch.toml")):
            continue  # not a patch folder; a patch.toml that is no plain file is a bad entry
        try:
            patches.append(load_patch(child))
        except CatalogError as exc:
            problems.append(CatalogProblem(child, str(exc)))
        except Exception as exc:  # a bug here must cost one entry, not every patch
            problems.append(CatalogProblem(child, _unexpected(child, exc)))
    return tuple(patches), tuple(problems)


def _unexpected(folder: Path, exc: Exception) -> str:
    return f"Catalogue entry {folder} cannot be loaded ({type(exc).__name__}: {exc})."


_WARNED: set[CatalogProblem] = set()


def runtime_catalog(strict: bool) -> tuple[tuple[Patch, ...], frozenset[str]]:
    """The catalogue as a patched process uses it: the good patches and the ids of the bad
    entries. Each bad entry is warned about once per process; ``strict`` raises instead."""
    if strict:
        return load_catalog(), frozenset()
    patches, problems = load_catalog_report()
    for problem in problems:
        if problem not in _WARNED:
            _WARNED.add(problem)
            logger.warning("%s", _entry_skipped(problem))
    return patches, frozenset(p.id for p in problems)


def _entry_skipped(problem: CatalogProblem) -> str:
    return (f"vllm-patches skips catalogue entry {problem.id}: {problem.message} The other "
            "patches still apply (VLLM_PATCHES_STRICT=1 makes this an error).")


def get_patch(patch_id: str) -> Patch:
    for patch in load_catalog():
        if patch.id == patch_id:
            return patch
    raise CatalogError(messages.unknown_patch(patch_id, [p.id for p in load_catalog()]))


def select(ids: list[str] | tuple[str, ...] | None) -> tuple[Patch, ...]:
    """The patches named by ``ids`` (all of them when empty), checked."""
    if not ids:
        return load_catalog()
    return tuple(get_patch(i) for i in ids)
