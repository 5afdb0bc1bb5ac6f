"""``vllm-patches catalog check``: the CI of a patch catalogue (the built-in one, or yours).

Each patch folder goes through these steps; each gives rows (PATCH, STEP,
RELEASE, RESULT, WHY):

- metadata: ``patch.toml`` and ``fix.py`` load (``catalog.load_patch``), the
  id is not defined by another catalogue too, and why, how and drop-when are
  written (not a TODO);
- fingerprints: every fingerprint of a wrap's ``seen`` table, computed again
  from the real files of each release it names (``releases.release_tree``),
  is the one recorded. A wrap without ``seen`` data is a warning;
- source: on every affected release, ``source.apply`` writes the fix into a
  copy of the release's target files and ``source.revert`` gives back their
  bytes, byte for byte;
- check.py: on the first and the last affected release, the patch's own
  behaviour check PASSes (``verify_checks``); a check that needs a GPU is ``not
  run`` where there is none, and a patch without check.py is a warning;
- upstream tests: on the same two releases, vLLM's own tests that the patch
  declares (``[upstream-tests]``, read from vLLM's sdists) PASS: upstream's
  regression test fails unpatched and passes patched, and no module test that
  passes unpatched fails patched (``verify.upstream``); a patch that declares
  none is a warning, one whose tests cannot run here (GPU, network) ``not run``;
- runtime: on the same two releases, the patch goes in at run time, the code
  that runs is patched, and it comes out again with the original functions back.
  Where check.py's patched arm did that (the plugin put the fix in, and it was
  taken out cleanly), that is the proof; otherwise a process that imports that
  release's target modules applies it and reverts it (``check_runtime``). A
  release whose modules cannot be imported on this machine is ``not run``, not a
  failure;
- overlap: no other patch (of these folders or of the catalogues vllm-patches
  loads) wraps the same function without saying how the two compose
  (``overlaps``).

A patch's affected releases are the releases its ``seen`` tables name inside
its affected range. A patch that records none is checked on the releases of
its affected range that the package index lists, unless ``releases_from_seen``
(then only its metadata and overlaps are checked). Source mode is cheap and
runs on every affected release; importing vLLM takes seconds, so the runtime
and check.py steps run on the first and the last only, several processes at once.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

from vllm_patches.core.catalog import (
    PROSE,
    CatalogError,
    Patch,
    Target,
    Wrap,
    catalog_dir,
    load_patch,
)
from vllm_patches.core.catalog_files import CATALOG_ENV
from vllm_patches.core.childenv import child_env
from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.words import Arm, Mode, Outcome, Word

RUNTIME_TIMEOUT = 300.0


class CatalogCheckError(VllmPatchesError):
    """A folder given to check is not a catalogue."""


class Step(Word):
    METADATA = "metadata"
    FINGERPRINTS = "fingerprints"
    SOURCE = "source"
    RUNTIME = "runtime"
    CHECK = "check.py"
    UPSTREAM = "upstream tests"
    OVERLAP = "overlap"


class Mark(Word):
    """What one row of ``catalog check`` found (a ``verify`` check's own word is a Verdict)."""

    OK = "ok"
    FAIL = "FAIL"
    WARNING = "warning"
    NOT_RUN = "not run"


@dataclass(frozen=True)
class Row:
    patch: str
    step: Step
    release: str  # "-" when the row is about no one release
    result: Mark
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"patch": self.patch, "step": str(self.step), "release": self.release,
                "result": str(self.result), "why": self.why}


@dataclass
class Report:
    folders: tuple[Path, ...]
    patches: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(r.result == Mark.FAIL for r in self.rows)

    def count(self, result: Mark) -> int:
        return sum(1 for r in self.rows if r.result == result)

    def sorted_rows(self) -> list[Row]:
        steps = list(Step)
        return sorted(self.rows, key=lambda r: (
            self.patches.index(r.patch) if r.patch in self.patches else len(self.patches),
            steps.index(r.step), Version(r.release) if r.release != "-" else Version("0")))

    def to_dict(self) -> dict[str, object]:
        return {"catalogues": [str(f) for f in self.folders], "patches": self.patches,
                "ok": self.ok, "counts": {str(r): self.count(r) for r in Mark},
                "rows": [r.to_dict() for r in self.sorted_rows()]}


Progress = Callable[[str], None]


def patch_folders(folder: Path) -> list[Path]:
    """The patch folders of a catalogue folder (or the folder itself, when it is one)."""
    if not folder.is_dir():
        raise CatalogCheckError(_not_a_folder(folder))
    if (folder / "patch.toml").is_file():
        return [folder]
    found = sorted(child for child in folder.iterdir()
                   if child.is_dir() and (child / "patch.toml").is_file())
    if not found:
        raise CatalogCheckError(_no_patches(folder))
    return found


def check(folders: Sequence[Path] = (), *, releases_from_seen: bool = False,
          progress: Progress = lambda line: None, timeout: float = RUNTIME_TIMEOUT) -> Report:
    """Check every patch of ``folders`` (default: the built-in catalogue)."""
    roots = tuple(dict.fromkeys(Path(f).resolve() for f in folders)) or (catalog_dir(),)
    patch_dirs = list(dict.fromkeys(p.resolve() for root in roots for p in patch_folders(root)))
    report = Report(roots, patches=[p.name for p in patch_dirs])
    patches = _metadata(patch_dirs, report)
    plans: dict[str, list[str]] = {}
    for patch in patches:
        _fingerprints(patch, report, progress)
        plans[patch.id] = _affected_releases(patch, releases_from_seen, report)
        _source(patch, plans[patch.id], report, progress)
    ends = {p.id: _first_and_last(plans[p.id]) for p in patches}
    checked = _checks(patches, ends, report, progress, timeout)
    _upstream(patches, ends, report, progress, timeout)
    not_run = _runtime(patches, ends, report, progress, timeout, _proven(checked))
    _check_rows(checked, not_run, report)
    _overlaps(patches, report)
    return report


# Metadata ---------------------------------------------------------------------
def _metadata(patch_dirs: list[Path], report: Report) -> list[Patch]:
    loaded: list[Patch] = []
    for folder in patch_dirs:
        try:
            patch = load_patch(folder)
        except CatalogError as exc:
            report.rows.append(Row(folder.name, Step.METADATA, "-", Mark.FAIL, str(exc)))
            continue
        except Exception as exc:  # a bug of ours must cost this patch, not the whole check
            report.rows.append(Row(folder.name, Step.METADATA, "-", Mark.FAIL,
                                   f"cannot be loaded ({type(exc).__name__}: {exc})"))
            continue
        loaded.append(patch)
    others = _other_catalogues()
    good = []
    for patch in loaded:
        twins = [p.folder for p in loaded + others
                 if p.id == patch.id and p.folder.resolve() != patch.folder.resolve()]
        if twins:
            report.rows.append(Row(patch.id, Step.METADATA, "-", Mark.FAIL,
                                   _defined_twice(patch, twins[0])))
            continue
        report.rows.append(Row(patch.id, Step.METADATA, "-", Mark.OK,
                               "patch.toml and its fix load and agree"))
        report.rows += _prose_rows(patch)
        good.append(patch)  # the fix is checked all the same: its story is not its code
    return good


def _prose_rows(patch: Patch) -> list[Row]:
    """A FAIL for each of why, how and drop-when still a TODO; a warning for a patch that
    has only a description (the old spelling of why, read as it for one release)."""
    if patch.old_description:
        return [Row(patch.id, Step.METADATA, "-", Mark.WARNING, _old_description(patch))]
    return [Row(patch.id, Step.METADATA, "-", Mark.FAIL, _unwritten(patch, key))
            for key in patch.unfinished()]


def _other_catalogues() -> list[Patch]:
    """The patches of the catalogues vllm-patches loads (the built-in one, and yours)."""
    from vllm_patches.core.catalog import load_catalog_report

    try:
        return list(load_catalog_report()[0])
    except VllmPatchesError:
        return []


# Fingerprints -------------------------------------------------------------------
def _fingerprints(patch: Patch, report: Report, progress: Progress) -> None:
    """Recompute each recorded fingerprint from the files of the releases it names."""
    by_release, unrecorded = _recorded_by_release(patch)
    if unrecorded and by_release:  # a patch that records nothing: _affected_releases says so
        report.rows.append(Row(patch.id, Step.FINGERPRINTS, "-", Mark.WARNING,
                               _no_releases_recorded(unrecorded)))
    releases = sorted(by_release, key=Version)
    if releases:
        progress(f"catalog check: {patch.id}: fingerprints recorded for {len(releases)} "
                 "release(s) ...")
    for release in releases:
        report.rows.append(_fingerprint_row(patch, release, by_release[release], progress))


_Recorded = list[tuple[Target, Wrap, str]]  # (target, wrap, fingerprint) seen in one release


def _recorded_by_release(patch: Patch) -> tuple[dict[str, _Recorded], list[str]]:
    """The recorded fingerprints by the release they were seen in, and the wrapped
    functions that record none."""
    by_release: dict[str, _Recorded] = {}
    unrecorded = []
    for target in patch.targets:
        for wrap in target.wraps:
            if not wrap.seen:
                unrecorded.append(target.qualname(wrap.name))
            for fp, releases in wrap.seen.items():
                for release in releases:
                    by_release.setdefault(release, []).append((target, wrap, fp))
    return by_release, unrecorded


def _fingerprint_row(patch: Patch, release: str, recorded: _Recorded,
                     progress: Progress) -> Row:
    """Whether the fingerprints recorded for ``release`` are those of its files."""
    try:
        tree = _release(release, progress)
        wrong = [_mismatch(target, wrap, fp, release, got)
                 for target, wrap, fp in recorded
                 for got in [_fingerprint_in(tree, target, wrap)] if got != fp]
    except VllmPatchesError as exc:
        return Row(patch.id, Step.FINGERPRINTS, release, Mark.FAIL, str(exc))
    if wrong:
        return Row(patch.id, Step.FINGERPRINTS, release, Mark.FAIL, "; ".join(wrong))
    return Row(patch.id, Step.FINGERPRINTS, release, Mark.OK,
               f"{len(recorded)} recorded fingerprint(s) match the release's code")


def _fingerprint_in(tree: Path, target: Target, wrap: Wrap) -> str | None:
    """The fingerprint of ``wrap`` in a release tree's file; None when it is not there."""
    from vllm_patches.core.shape import class_prints
    from vllm_patches.core.sourcefile import read_source

    try:
        text = read_source(tree / target.relpath).text
    except FileNotFoundError:
        return None
    try:
        return class_prints(text, target.class_name).methods.get(wrap.name)
    except SyntaxError:
        return None


def _release(version: str, progress: Progress, *, imported: bool = False) -> Path:
    """The release's tree; ``imported``: a process will import vLLM from it (compiled)."""
    from vllm_patches.core.releases import cache_root, release_tree

    if not (cache_root() / "releases" / version / ".complete").is_file():
        progress(f"catalog check: fetching vLLM {version} (once, into the user cache) ...")
    return release_tree(version, compiled=imported)


# Which releases ----------------------------------------------------------------
def _affected_releases(patch: Patch, from_seen: bool, report: Report) -> list[str]:
    recorded = {r for t in patch.targets for w in t.wraps for rs in w.seen.values() for r in rs}
    functions = [t.qualname(w.name) for t in patch.targets for w in t.wraps]
    if recorded:
        where = "its seen tables name"
        candidates = recorded
    elif from_seen:
        report.rows.append(Row(patch.id, Step.FINGERPRINTS, "-", Mark.WARNING,
                               _no_releases_recorded(functions) + _only_metadata()))
        return []
    else:
        from vllm_patches.core.release_index import published_releases

        where = "the package index lists"
        try:
            candidates = set(published_releases())
        except VllmPatchesError as exc:
            report.rows.append(Row(patch.id, Step.FINGERPRINTS, "-", Mark.WARNING,
                                   _no_releases_recorded(functions) + f" ({exc})"
                                   + _only_metadata()))
            return []
        report.rows.append(Row(patch.id, Step.FINGERPRINTS, "-", Mark.WARNING,
                               _no_releases_recorded(functions) + _from_index()))
    found = sorted((r for r in candidates if patch.affects(Version(r))), key=Version)
    if not found:
        report.rows.append(Row(patch.id, Step.SOURCE, "-", Mark.WARNING,
                               f"no release that {where} is in its affected range "
                               f"{patch.affected_text}: nothing to apply it to"))
    return found


def _first_and_last(releases: list[str]) -> list[str]:
    return list(dict.fromkeys(releases[:1] + releases[-1:]))


# Source mode --------------------------------------------------------------------
def _source(patch: Patch, releases: list[str], report: Report, progress: Progress) -> None:
    if releases:
        progress(f"catalog check: {patch.id}: source mode on {len(releases)} release(s) ...")
    for release in releases:
        try:
            result, why = _round_trip(patch, _release(release, progress))
        except VllmPatchesError as exc:
            result, why = Mark.FAIL, str(exc)
        except Exception as exc:  # a bug of ours must cost this row, not the whole check
            result, why = Mark.FAIL, f"{type(exc).__name__}: {exc}"
        report.rows.append(Row(patch.id, Step.SOURCE, release, result, why))


def _round_trip(patch: Patch, tree: Path) -> tuple[Mark, str]:
    """Apply ``patch`` to a copy of the release's files that it targets, then revert."""
    from vllm_patches.core.detect import find_vllm
    from vllm_patches.source import plan as source

    with tempfile.TemporaryDirectory(prefix="vllm-patches-check-") as tmp:
        copy = Path(tmp)
        rels = _copy_targets(patch, tree, copy)
        before = {rel: (copy / rel).read_bytes() for rel in rels}
        install = find_vllm(copy)
        [applied] = source.apply(install, [patch]).results
        if applied.outcome != Outcome.APPLIED:
            return Mark.FAIL, f"apply: {applied.message}"
        changed = sorted(rel for rel in rels if (copy / rel).read_bytes() != before[rel])
        if not changed:
            return Mark.FAIL, "apply said applied but changed no file"
        [reverted] = source.revert(install, [patch]).results
        if reverted.outcome != Outcome.REVERTED:
            return Mark.FAIL, f"revert: {reverted.message}"
        differ = sorted(rel for rel in rels if (copy / rel).read_bytes() != before[rel])
        if differ:
            return Mark.FAIL, f"revert left {', '.join(differ)} different from the release"
    return Mark.OK, f"applied to {', '.join(changed)} and reverted byte for byte"


def _copy_targets(patch: Patch, tree: Path, dest: Path) -> list[str]:
    """Copy the target modules that ``tree`` has, ``vllm/__init__.py`` and the dist-info."""
    rels = sorted({t.relpath for t in patch.targets if (tree / t.relpath).is_file()})
    for rel in ["vllm/__init__.py", *rels]:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tree / rel, dest / rel)
    for info in tree.glob("vllm-*.dist-info"):
        shutil.copytree(info, dest / info.name)
    return rels


# Runtime ------------------------------------------------------------------------
def _runtime(patches: list[Patch], ends: dict[str, list[str]], report: Report,
             progress: Progress, timeout: float,
             proven: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The runtime step on each patch's first and last affected release. Where check.py's
    patched arm put the fix in through the plugin and took it out again cleanly
    (``proven``), that is the proof; the other pairs run in one process per release for
    all its patches (vLLM imported once), up to ``at_once`` at a time, and a patch that
    process did not finish runs again in a process of its own. Returns why each (patch,
    release) that could not be imported here did not run."""
    from vllm_patches.verify.jobs import Job

    by_release, trees = _runtime_groups(patches, ends, report, progress, proven)
    if not by_release:
        return {}

    def job(release: str, group: list[Patch]) -> Job:
        argv = [sys.executable, "-m", "vllm_patches.authoring.check_runtime", release,
                *(str(p.folder) for p in group)]
        return Job(Mode.RUNTIME, release, argv, subprocess_env(trees[release]),
                   timeout=timeout * len(group), members=tuple(p.folder.name for p in group),
                   preload=True)

    pairs = sum(len(g) for g in by_release.values())
    progress(f"catalog check: runtime on {pairs} (patch, release) pair(s), a process per "
             f"release, up to {_at_once()} at once ...")
    lines = _run_runtime([job(r, g) for r, g in sorted(by_release.items(),
                                                       key=lambda kv: Version(kv[0]))],
                         timeout, progress)
    again = [(release, patch) for release, group in by_release.items() for patch in group
             if (patch.folder.name, release) not in lines]
    if again:
        progress(f"  {len(again)} pair(s) did not finish in their release's process: "
                 "running each in a process of its own ...")
        lines.update(_run_runtime([job(r, [p]) for r, p in again], timeout, progress))
    not_run = {}
    for release, group in by_release.items():
        for patch in group:
            line = lines.get((patch.folder.name, release), {})
            if "not_run" in line:
                not_run[(patch.id, release)] = line["not_run"]
            report.rows.append(_runtime_row(patch, release, line))
    return not_run


def _runtime_groups(patches: list[Patch], ends: dict[str, list[str]], report: Report,
                    progress: Progress, proven: set[tuple[str, str]],
                    ) -> tuple[dict[str, list[Patch]], dict[str, Path]]:
    """The patches to run by release, and each release's tree; a row for each pair that
    check.py proved already, and for each release that could not be had."""
    by_release: dict[str, list[Patch]] = {}
    trees: dict[str, Path] = {}
    for patch in patches:
        for release in ends[patch.id]:
            if (patch.id, release) in proven:
                report.rows.append(Row(patch.id, Step.RUNTIME, release, Mark.OK,
                                       _proven_by_check()))
                continue
            try:
                trees[release] = _release(release, progress, imported=True)
            except VllmPatchesError as exc:
                report.rows.append(Row(patch.id, Step.RUNTIME, release, Mark.FAIL, str(exc)))
                continue
            by_release.setdefault(release, []).append(patch)
    return by_release, trees


def _runtime_row(patch: Patch, release: str, line: dict) -> Row:
    """The runtime step's row for one pair, from the line its process printed."""
    if "not_run" in line:
        return Row(patch.id, Step.RUNTIME, release, Mark.NOT_RUN, f"not run: {line['not_run']}")
    if line.get("ok") is True:
        return Row(patch.id, Step.RUNTIME, release, Mark.OK, line["detail"])
    why = line.get("detail") or line.get("error") or "the process gave no result"
    return Row(patch.id, Step.RUNTIME, release, Mark.FAIL, why)


def _at_once() -> int:
    return min(4, os.cpu_count() or 1)  # each imports torch and vLLM: bound the memory


def _run_runtime(jobs, timeout: float, progress: Progress) -> dict[tuple[str, str], dict]:
    """(patch folder name, release) -> its line, for the jobs' finished patches; a job of
    one patch that died gets its crash as the line."""
    from vllm_patches.verify.jobs import run_all

    def shown(job, line: dict) -> None:
        if line.get("arm") == Mode.RUNTIME:
            progress(f"  runtime {line.get('patch', '?')} on {line.get('release', '?')}: "
                     f"{'not run' if 'not_run' in line else 'ok' if line.get('ok') else 'FAIL'}")

    found: dict[tuple[str, str], dict] = {}
    for start in range(0, len(jobs), _at_once()):
        for finished in run_all(jobs[start:start + _at_once()], timeout, on_line=shown):
            release, names = finished.job.scenario, finished.job.members
            found.update({(name, release): line for name, line in finished.results().items()})
            if len(names) == 1 and (names[0], release) not in found:
                found[(names[0], release)] = {"ok": False, "detail": finished.no_result()}
    return found


def subprocess_env(tree: Path) -> dict[str, str]:
    """A process over one release tree: that vLLM and this vllm_patches first on the path,
    none of the user's patch selections."""
    return child_env(tree)


# check.py -------------------------------------------------------------------------
def _checks(patches: list[Patch], ends: dict[str, list[str]], report: Report,
            progress: Progress, timeout: float) -> dict[tuple[str, str], object]:
    """Run each patch's check.py on its first and last affected release: (patch id,
    release) -> its ``CheckResult``. A release that cannot be read fails its rows here."""
    from vllm_patches.verify.checks import check_file, verify_checks

    by_release: dict[str, list[Patch]] = {}
    for patch in patches:
        if check_file(patch) is None:
            report.rows.append(Row(patch.id, Step.CHECK, "-", Mark.WARNING, _no_check()))
            continue
        for release in ends[patch.id]:
            # Run it even where vLLM's target module needs what this machine lacks: a
            # check.py may bring it (stand-ins for backends it never calls).
            by_release.setdefault(release, []).append(patch)
    def run(group: list[Patch], install) -> list:
        return verify_checks(group, install, from_target=True, timeout=timeout, echo=progress)

    return {(result.patch, release): result for release, results in
            _per_release(patches, by_release, Step.CHECK, report, progress, run).items()
            for result in results}


def _per_release(patches: list[Patch], by_release: dict[str, list[Patch]], step: Step,
                 report: Report, progress: Progress, run) -> dict[str, list]:
    """release -> ``run(group, install)`` for each release's group of patches, that release's
    tree imported from the user cache; a release that cannot be read fails its rows."""
    from vllm_patches.core.detect import find_vllm

    found = {}
    with _catalogues_visible(patches):
        for release, group in sorted(by_release.items(), key=lambda kv: Version(kv[0])):
            try:
                install = find_vllm(_release(release, progress, imported=True))
                found[release] = run(group, install)
            except VllmPatchesError as exc:
                report.rows += [Row(p.id, step, release, Mark.FAIL, str(exc)) for p in group]
    return found


# upstream tests --------------------------------------------------------------------
def _upstream(patches: list[Patch], ends: dict[str, list[str]], report: Report,
              progress: Progress, timeout: float) -> None:
    """Run each patch's upstream tests on its first and last affected release."""
    from vllm_patches.verify.upstream import verify_upstream

    by_release: dict[str, list[Patch]] = {}
    for patch in patches:
        declared = patch.upstream_tests
        if declared is None:
            report.rows.append(Row(patch.id, Step.UPSTREAM, "-", Mark.WARNING,
                                   _no_upstream_tests()))
            continue
        if not declared.regression and not declared.module:  # nothing to run: say why once
            report.rows.append(Row(patch.id, Step.UPSTREAM, "-", Mark.NOT_RUN,
                                   f"not run: {declared.none}"))
            continue
        for release in ends[patch.id]:
            by_release.setdefault(release, []).append(patch)

    def run(group: list[Patch], install) -> list:
        return verify_upstream(group, install, from_target=True, timeout=timeout, echo=progress)

    for release, results in _per_release(patches, by_release, Step.UPSTREAM, report, progress,
                                         run).items():
        report.rows += [Row(r.patch, Step.UPSTREAM, release, *_upstream_mark(r))
                        for r in results]


def _upstream_mark(result) -> tuple[Mark, str]:
    from vllm_patches.verify.checks import Verdict

    if result.verdict == Verdict.PASS:
        return Mark.OK, f"PASS: {result.reason}"
    if result.verdict == Verdict.NOT_RUN:
        return Mark.NOT_RUN, f"not run: {result.reason}"
    return Mark.FAIL, f"{result.verdict}: {result.reason}"


def _proven(checked: dict[tuple[str, str], object]) -> set[tuple[str, str]]:
    """The (patch, release) pairs whose check's patched arm is the runtime step's proof:
    the plugin put that fix in, and it came out again cleanly."""
    return {(patch_id, release) for (patch_id, release), result in checked.items()
            if result.arms.get(Arm.PATCHED, {}).get("outcomes") == {patch_id: Outcome.APPLIED}
            and result.arms[Arm.PATCHED].get("taken_out") is True}


def _check_rows(checked: dict[tuple[str, str], object], not_run: dict[tuple[str, str], str],
                report: Report) -> None:
    for (patch_id, release), result in checked.items():
        outcome = _check_result(result)
        if outcome[0] != Mark.OK and (patch_id, release) in not_run:
            # Neither the runtime step nor the check could import it here.
            outcome = (Mark.NOT_RUN, f"not run: {not_run[(patch_id, release)]}")
        report.rows.append(Row(patch_id, Step.CHECK, release, *outcome))


def _check_result(result) -> tuple[Mark, str]:
    from vllm_patches.verify.checks import Verdict

    if result.verdict == Verdict.PASS:
        return Mark.OK, f"PASS: {result.reason}"
    if result.verdict == Verdict.NOT_RUN and result.arms.get("needs"):
        return Mark.NOT_RUN, f"not run (no GPU): {result.reason}"
    return Mark.FAIL, f"{result.verdict}: {result.reason}"


@contextmanager
def _catalogues_visible(patches: list[Patch]):
    """The check's processes load the patch by its id: let them see the user catalogues of
    ``patches`` (as ``--catalog DIR`` does), for the time of the check."""
    builtin = catalog_dir()
    folders = [str(p.folder.parent) for p in patches if p.folder.parent.resolve() != builtin]
    old = os.environ.get(CATALOG_ENV)
    if folders:
        current = [p for p in (old or "").split(os.pathsep) if p]
        os.environ[CATALOG_ENV] = os.pathsep.join(dict.fromkeys(current + folders))
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(CATALOG_ENV, None)
        else:
            os.environ[CATALOG_ENV] = old


# Overlaps -----------------------------------------------------------------------
def _overlaps(patches: list[Patch], report: Report) -> None:
    from vllm_patches.core.overlaps import overlaps

    checked = {p.folder.resolve() for p in patches}
    others = [p for p in _other_catalogues() if p.folder.resolve() not in checked]
    found = overlaps(patches + others)
    for patch in patches:
        mine = [o for o in found if patch in (o.first, o.second)]
        if not mine:
            report.rows.append(Row(patch.id, Step.OVERLAP, "-", Mark.OK,
                                   "no other patch wraps what it wraps"))
        for o in mine:
            report.rows.append(Row(patch.id, Step.OVERLAP, "-",
                                   Mark.OK if o.declared else Mark.FAIL, o.describe(patch)))


# Messages ---------------------------------------------------------------------------
def _not_a_folder(folder: Path) -> str:
    return (f"{folder} is not a folder: give a catalogue folder (a folder of patch folders, "
            "each with a patch.toml).")


def _no_patches(folder: Path) -> str:
    return (f"{folder} holds no patch folder (a catalogue is a folder of patch folders, each "
            "with a patch.toml).")


def _unwritten(patch: Patch, key: str) -> str:
    return (f"patch {patch.id}: field '{key}' of its patch.toml is still a TODO: write "
            f"{PROSE[key]}")


def _old_description(patch: Patch) -> str:
    return (f"patch {patch.id}: its patch.toml has 'description' (the old spelling of 'why', "
            "read as it until the next release) and no 'how' or 'drop-when': write "
            + ", ".join(f"'{key}' ({meaning})" for key, meaning in PROSE.items())
            + " in its place")


def _defined_twice(patch: Patch, other: Path) -> str:
    return (f"id {patch.id} is also defined in {other}: ids must be unique across catalogues "
            "(rename one)")


def _no_releases_recorded(functions: list[str]) -> str:
    return (f"no releases recorded for {', '.join(functions)}: run vllm-patches catalog "
            "fingerprint")


def _only_metadata() -> str:
    return "; only its metadata and overlaps are checked"


def _from_index() -> str:
    return "; checked on the releases of its affected range that the package index lists"


def _proven_by_check() -> str:
    from vllm_patches.authoring.check_runtime import RUNTIME_OK

    return f"{RUNTIME_OK} (check.py's patched arm: put in by the plugin)"


def _no_upstream_tests() -> str:
    return ("declares no upstream tests: add [upstream-tests] to patch.toml, with upstream's "
            "regression test or why there is none (docs/patch-format.md)")


def _no_check() -> str:
    return ("no check.py: its behaviour is not checked (a check.py with run() makes "
            "vllm-patches verify ID prove the bug and the fix)")


def _mismatch(target: Target, wrap: Wrap, fp: str, release: str, got: str | None) -> str:
    where = target.qualname(wrap.name)
    if got is None:
        return f"{where} is not in vLLM {release}, where seen records {fp}"
    return f"{where} is {got} in vLLM {release}, seen records {fp}"
