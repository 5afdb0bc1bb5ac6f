"""``catalog fingerprint``: the shapes of a patch's targets across vLLM releases.

``read_draft(folder)`` reads a patch's targets and recorded fingerprints from
its ``patch.toml`` through the catalogue's one validator in draft mode, so that
a patch ``catalog new`` just wrote (its ``pre-fix`` still empty) can be
fingerprinted and a bad field is refused in the very words ``load_patch`` uses.
``observe`` computes the fingerprint of every wrap in one vLLM tree
(``class_prints`` on the module's text, read by ``read_source``; an absent
module, class or function: the tree *lacks* the target). ``survey`` merges
the observations with what the patch recorded and decides:

- which shapes are fixed: those first seen at or after the fix's release
  (``--fixed-in``, else the patch's ``applied-upstream``); with neither,
  every new shape is recorded as pre-fix (and a shape change is reported);
- which new shapes are left out: those seen only before the bug, that is
  before ``--first-affected``, else before the start of the patch's affected
  range (unless that is still a TODO, as ``catalog new`` writes it): code
  that the fix was not written for (vLLM 0.21.0's ``load_weights`` for a
  patch of the cache 0.23.0 added). A recorded shape seen in earlier releases
  moves the range's start down instead;
- each wrap's ``pre-fix`` and ``fixed-upstream`` lists (recorded shapes that
  were not seen now, such as a fork's, are kept) and its ``seen`` table
  (fingerprint -> the releases it was seen in);
- the ``affected`` range they imply: ``>=`` the first release with the pre-fix
  shape of every wrap, ``<`` the fix's release (or the first fixed release).

``patch_toml.write_survey`` writes the result into ``patch.toml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit
from packaging.version import Version
from tomlkit.exceptions import TOMLKitError

from vllm_patches.core import messages as core_messages
from vllm_patches.core.catalog import (TODO, Stage, Target, Wrap, dotted, parse_patch_toml,
                                       patch_from_toml)
from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.shape import class_prints
from vllm_patches.core.sourcefile import SourceTextError, read_source
from vllm_patches.core.words import Word


class FingerprintError(VllmPatchesError):
    """A patch cannot be fingerprinted (its patch.toml is unusable); nothing was written."""


class Seen(Word):
    """What one release has of one wrapped function."""

    PRE_FIX = "pre-fix"
    FIXED = "fixed"
    EARLIER = "earlier"  # a shape older than the bug (than every recorded pre-fix shape)
    LACKS = "lacks"


# The patch as recorded ---------------------------------------------------------------
@dataclass(frozen=True)
class WrapDraft:
    """One wrapped function as patch.toml records it (its place: targets[t].wraps[w])."""

    target: int
    index: int
    module: str
    class_name: str | None
    name: str
    pre_fix: tuple[str, ...]
    fixed: tuple[str, ...]
    seen: dict[str, tuple[str, ...]]

    @property
    def label(self) -> str:
        return dotted(self.class_name, self.name)

    @property
    def spec(self) -> str:
        return f"{self.module}:{self.label}"

    @property
    def relpath(self) -> str:
        return self.module.replace(".", "/") + ".py"


@dataclass(frozen=True)
class PatchDraft:
    id: str
    folder: Path
    text: str  # patch.toml as read
    applied_upstream: Version | None
    affected: str | None
    wraps: tuple[WrapDraft, ...]
    affected_todo: bool = False  # no range yet, or one marked TODO (catalog new's guess)

    @property
    def path(self) -> Path:
        return self.folder / "patch.toml"


def find_patch_folder(patch_id: str, catalog: Path | str | None = None) -> Path:
    """The folder of patch ``patch_id``: in ``catalog``, else in every catalogue read (a
    patch that does not load yet, such as one ``catalog new`` wrote, is found too)."""
    if catalog is not None:
        root = Path(catalog).expanduser().resolve()
        folder = root / patch_id
        if not (folder / "patch.toml").is_file():
            raise FingerprintError(_not_in_catalog(patch_id, root))
        return folder
    from vllm_patches.core.catalog import load_catalog_report

    patches, problems = load_catalog_report()
    for entry in (*patches, *problems):
        # lexists: a planted patch.toml (a FIFO, a device) is found, and read_draft refuses it
        # in one sentence, as for a catalogue named with catalog=
        if entry.id == patch_id and os.path.lexists(entry.folder / "patch.toml"):
            return entry.folder
    raise FingerprintError(core_messages.unknown_patch(patch_id, sorted(p.id for p in patches)))


def _not_in_catalog(patch_id: str, root: Path) -> str:
    return f"The catalogue {root} has no patch {patch_id} (no {root / patch_id}/patch.toml)."


def read_draft(folder: Path) -> PatchDraft:
    """The targets and recorded shapes of the patch in ``folder``, checked by the one
    validator as a draft (``Stage.DRAFT``: pre-fix may be empty, affected a TODO)."""
    path = folder / "patch.toml"
    text, data = parse_patch_toml(path)
    patch = patch_from_toml(folder, data, Stage.DRAFT)
    try:  # tomlkit only for the comments (a TODO after affected = "==0.26.0")
        item = tomlkit.parse(text).get("affected")
    except TOMLKitError as exc:
        raise FingerprintError(core_messages.catalog_bad_toml(path, exc)) from None
    wraps = tuple(_wrap_draft(t, i, target, wrap, data["targets"][t]["wraps"][i])
                  for t, target in enumerate(patch.targets)
                  for i, wrap in enumerate(target.wraps))
    todo = patch.affected is None or TODO in getattr(
        getattr(item, "trivia", None), "comment", "").upper()
    return PatchDraft(patch.id, folder, text, patch.applied_upstream, data.get("affected"),
                      wraps, affected_todo=todo)


def _wrap_draft(t: int, i: int, target: Target, wrap: Wrap, table: dict) -> WrapDraft:
    """One checked wrap, its fingerprints in the order patch.toml lists them."""
    return WrapDraft(t, i, target.module, target.class_name, wrap.name,
                     tuple(table.get("pre-fix", ())), tuple(table.get("fixed-upstream", ())),
                     wrap.seen)


# Observations ------------------------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """The fingerprint of each wrap (by label) in one vLLM tree; None where it lacks it."""

    version: str | None  # None: a tree whose version is unknown
    name: str  # shown in the table: the version, or the tree's folder
    prints: dict[str, str | None]
    why: dict[str, str]  # label -> why the tree lacks it


def observe(draft: PatchDraft, tree: Path, version: str | None, name: str | None = None
            ) -> Observation:
    """The shapes of ``draft``'s wraps in the vLLM tree at ``tree`` (the folder of vllm/)."""
    prints: dict[str, str | None] = {}
    why: dict[str, str] = {}
    texts: dict[str, str | None] = {}
    for wrap in draft.wraps:
        if wrap.module not in texts:
            try:
                texts[wrap.module] = read_source(tree / wrap.relpath).text
            except FileNotFoundError:
                texts[wrap.module] = None
            except SourceTextError as exc:
                raise FingerprintError(str(exc)) from None
        text = texts[wrap.module]
        prints[wrap.label] = None
        if text is None:
            why[wrap.label] = f"no module {wrap.module}"
            continue
        try:
            found = class_prints(text, wrap.class_name)
        except (SyntaxError, ValueError) as exc:
            why[wrap.label] = f"{wrap.module} cannot be parsed by this Python ({exc})"
            continue
        if not found.class_found:
            why[wrap.label] = f"no class {wrap.class_name} in {wrap.module}"
        elif wrap.name not in found.methods:
            why[wrap.label] = f"no function {wrap.label} in {wrap.module}"
        else:
            prints[wrap.label] = found.methods[wrap.name]
    return Observation(version, name or version or str(tree), prints, why)


# The survey --------------------------------------------------------------------------
@dataclass
class WrapResult:
    draft: WrapDraft
    pre_fix: list[str]
    fixed: list[str]
    seen: dict[str, list[str]]  # fingerprint -> releases, oldest first (recorded ones only)
    earlier: dict[str, list[str]] = field(default_factory=dict)  # left out: older code
    since: Version | None = None  # the first release whose new shapes count

    def category(self, fp: str | None) -> Seen:
        if fp is None:
            return Seen.LACKS
        if fp in self.earlier:
            return Seen.EARLIER
        return Seen.FIXED if fp in self.fixed else Seen.PRE_FIX


@dataclass
class Row:
    """One release (or tree) of the table."""

    observation: Observation
    shapes: dict[str, Seen]
    changes: list[str]  # "<label> changes" / "appears" / "disappears" since the row above


@dataclass
class Survey:
    draft: PatchDraft
    rows: list[Row]
    skipped: list[tuple[str, str]]  # (release, why) that could not be read
    boundary: Version | None
    boundary_from: str | None  # "--fixed-in" or "applied-upstream"
    wraps: list[WrapResult]
    affected: str | None = None  # the range to write (None: leave it)
    applied_upstream: str | None = None  # to write (None: leave it)
    notes: list[str] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)  # each one makes the exit code 1

    @property
    def changes(self) -> list[str]:
        """Each change to patch.toml, one sentence each."""
        out = []
        for w in self.wraps:
            d = w.draft
            for fp in w.pre_fix:
                if fp not in d.pre_fix:
                    out.append(f"{d.label}: pre-fix + {fp}" + (" (was fixed-upstream)"
                                                               if fp in d.fixed else ""))
            for fp in w.fixed:
                if fp not in d.fixed:
                    out.append(f"{d.label}: fixed-upstream + {fp}" + (" (was pre-fix)"
                                                                      if fp in d.pre_fix else ""))
            if {k: tuple(v) for k, v in w.seen.items()} != d.seen:
                out.append(f"{d.label}: seen table updated")
        if self.affected is not None and self.affected != self.draft.affected:
            out.append(f"affected: {self.draft.affected or '(none)'} -> {self.affected}")
        old = str(self.draft.applied_upstream) if self.draft.applied_upstream else None
        if self.applied_upstream is not None and self.applied_upstream != old:
            out.append(f"applied-upstream: {old or '(none)'} -> {self.applied_upstream}")
        return out


def _span_text(versions: list[str]) -> str:
    return versions[0] if len(versions) == 1 else f"{versions[0]}-{versions[-1]}"


def _key(version: str | None) -> tuple[int, Version]:
    return (1, Version("0")) if version is None else (0, Version(version))


def survey(draft: PatchDraft, observations: list[Observation], *,
           fixed_in: Version | None = None, first_affected: Version | None = None,
           skipped: list[tuple[str, str]] | None = None) -> Survey:
    """Merge ``observations`` with what ``draft`` recorded (see the module's docstring)."""
    observations = sorted(observations, key=lambda o: _key(o.version))
    boundary = fixed_in or draft.applied_upstream
    boundary_from = "--fixed-in" if fixed_in else "applied-upstream" if boundary else None
    surveyed = {o.version for o in observations if o.version is not None}
    since = first_affected or (None if draft.affected_todo else _range_start(draft.affected))
    results = [_classify(wrap, observations, surveyed, boundary, since) for wrap in draft.wraps]
    result = Survey(draft, _rows(observations, results), list(skipped or []), boundary,
                    boundary_from, results)
    _range(result, fixed_in)
    _explain(result, observations)
    return result


def _range_start(affected: str | None) -> Version | None:
    """The first version an affected range can hold (its >=, > or == bound), or None."""
    from vllm_patches.core.versions import InvalidRange, VersionRange

    try:
        clauses = VersionRange(affected).clauses if affected else []
    except InvalidRange:
        return None
    return min((v for op, v in clauses if op in (">=", ">", "==")), default=None)


def _classify(wrap: WrapDraft, observations: list[Observation], surveyed: set[str],
              boundary: Version | None, since: Version | None) -> WrapResult:
    """One wrap's lists and seen table: what it recorded, merged with what was observed."""
    seen: dict[str, set[str]] = {fp: {v for v in vs if v not in surveyed}
                                 for fp, vs in wrap.seen.items()}
    order = list(wrap.pre_fix) + list(wrap.fixed)
    for o in observations:
        fp = o.prints[wrap.label]
        if fp is None:
            continue
        if fp not in order:
            order.append(fp)
        if o.version is not None:
            seen.setdefault(fp, set()).add(o.version)
    span = {fp: (min(map(Version, vs)), max(map(Version, vs))) for fp, vs in seen.items() if vs}
    # Code older than the bug is not pre-fix code: a new shape seen only before the bug
    # (--first-affected, else the start of the patch's affected range) is left out. A
    # recorded shape seen earlier extends the range instead.
    recorded = set(wrap.pre_fix) | set(wrap.fixed)
    category: dict[str, Seen] = {}
    for fp in order:
        first, last = span.get(fp, (None, None))
        if fp not in recorded and since is not None and last is not None and last < since:
            category[fp] = Seen.EARLIER
        elif boundary is not None and first is not None:
            category[fp] = Seen.FIXED if first >= boundary else Seen.PRE_FIX
        else:
            category[fp] = Seen.FIXED if fp in wrap.fixed else Seen.PRE_FIX

    def releases(fp: str) -> list[str]:
        return sorted(seen.get(fp, ()), key=Version)

    kept = sorted((fp for fp in order if category[fp] != Seen.EARLIER and seen.get(fp)),
                  key=lambda fp: span[fp][0])
    return WrapResult(
        wrap,
        _stable(wrap.pre_fix, [fp for fp in order if category[fp] == Seen.PRE_FIX]),
        _stable(wrap.fixed, [fp for fp in order if category[fp] == Seen.FIXED]),
        {fp: releases(fp) for fp in kept},
        {fp: releases(fp) for fp in order if category[fp] == Seen.EARLIER},
        since,
    )


def _stable(old: tuple[str, ...], new: list[str]) -> list[str]:
    """``new`` in the recorded order first, then the new fingerprints as first seen."""
    return [fp for fp in old if fp in new] + [fp for fp in new if fp not in old]


def _rows(observations: list[Observation], results: list[WrapResult]) -> list[Row]:
    rows = []
    previous: Observation | None = None
    for o in observations:
        shapes = {w.draft.label: w.category(o.prints[w.draft.label]) for w in results}
        changes = []
        if previous is not None:
            for w in results:
                label = w.draft.label
                before, now = previous.prints[label], o.prints[label]
                if before == now:
                    continue
                changes.append(f"{label} " + ("appears" if before is None else
                                              "disappears" if now is None else "changes"))
        rows.append(Row(o, shapes, changes))
        previous = o
    return rows


def release_states(results: list[WrapResult]) -> dict[Version, Seen]:
    """Every release recorded for any wrap: FIXED where one wrap has a fixed shape, PRE_FIX
    where every wrap has a pre-fix shape, LACKS otherwise."""
    maps = [{Version(v): fp for fp, vs in w.seen.items() for v in vs} for w in results]
    states = {}
    for version in sorted(set().union(*maps)):
        per_wrap = [w.category(m.get(version)) for w, m in zip(results, maps)]
        if Seen.FIXED in per_wrap:
            states[version] = Seen.FIXED
        elif all(s == Seen.PRE_FIX for s in per_wrap):
            states[version] = Seen.PRE_FIX
        else:
            states[version] = Seen.LACKS
    return states


def _range(s: Survey, fixed_in: Version | None) -> None:
    states = release_states(s.wraps)
    pre = [v for v, st in states.items() if st == Seen.PRE_FIX]
    fixed = [v for v, st in states.items() if st == Seen.FIXED]
    if fixed_in is not None:
        if fixed:
            s.applied_upstream = str(fixed_in)
        else:
            s.notes.append(f"--fixed-in {fixed_in}: no release recorded has a fixed shape yet, "
                           "so applied-upstream is left as it is; survey a release from "
                           f"{fixed_in} on to record it.")
    if not pre:
        s.attention.append("No release recorded has the pre-fix shape of every wrapped "
                           "function, so the affected range is left as it is.")
        return
    first = pre[0]
    upper = s.boundary if s.boundary is not None else next((v for v in fixed if v > first), None)
    s.affected = f">={first}" + (f",<{upper}" if upper is not None else "")
    late = [v for v in pre if s.boundary is not None and v >= s.boundary]
    if late:
        s.attention.append(
            f"{', '.join(map(str, late))} still {'has' if len(late) == 1 else 'have'} the "
            f"pre-fix shape of every wrapped function, at or after the fix's release "
            f"{s.boundary} ({s.boundary_from}): check that release, or the fix's release.")


def _explain(s: Survey, observations: list[Observation]) -> None:
    changed = [(row.observation.name, f"{label} changes")
               for above, row in zip(s.rows, s.rows[1:]) for label, shape in row.shapes.items()
               if shape == above.shapes[label] == Seen.PRE_FIX
               and row.observation.prints[label] != above.observation.prints[label]]
    if s.boundary is None and changed:
        where = "; ".join(f"{c} at {name}" for name, c in changed)
        s.notes.append(f"No --fixed-in and no applied-upstream: every shape from the bug on is "
                       f"recorded as pre-fix, although {where}. If upstream's fix made that "
                       "change, run again with --fixed-in RELEASE.")
    for w in s.wraps:
        for fp, versions in w.earlier.items():
            s.notes.append(
                f"{w.draft.label}: {fp} ({_span_text(versions)}) is older than the bug "
                f"(from {w.since} on), so it is left out; if the bug is in that code too, run "
                f"again with --first-affected {versions[0]}.")
    dated = [o for o in observations if o.version is not None]
    if s.affected is not None and dated and s.affected.startswith(f">={dated[0].version}"):
        s.notes.append(f"The earliest release surveyed, {dated[0].version}, already has the "
                       "pre-fix shape: the bug may be older (survey earlier releases to know).")
    for o in observations:
        if o.version is None:
            s.notes.append(f"{o.name} has no version: its shapes are added to the lists but "
                           "not to the seen tables (give it one with --vllm-version).")
    if s.skipped:
        s.attention.append("Not surveyed: " + "; ".join(f"{v} ({why})" for v, why in s.skipped)
                           + ".")
    if not any(fp is not None for o in observations for fp in o.prints.values()):
        s.attention.append(f"No release surveyed has any of the wrapped functions of "
                           f"{s.draft.id}: check the targets, or survey other releases.")
