"""``vllm-patches catalog ...``: write, fingerprint and check patch catalogues (yours and ours)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vllm_patches.cli import messages
from vllm_patches.cli.common import (
    EXIT_ATTENTION,
    Failure,
    catalog_option,
    deprecated,
    emit_json,
    friendly_errors,
    print_table,
)


@click.group("catalog")
def catalog() -> None:
    """Write, fingerprint and check patch catalogues: ours, and your own.

    \b
    Example:
      vllm-patches catalog new my-fix --into ~/my-patches \\
          --function vllm.v1.engine.detokenizer:check_stop_strings --pr 49391 --release 0.26.0
      vllm-patches catalog fingerprint my-fix --catalog ~/my-patches \\
          --releases 0.17.0..0.33.0 --fixed-in 0.27.0
      vllm-patches catalog check ~/my-patches
      vllm-patches catalog list --markdown
    """


# catalog new ---------------------------------------------------------------------------
@catalog.command("new")
@click.argument("patch_id", metavar="ID")
@click.option("--into", "catalog_dir", metavar="DIR",
              help="The catalogue folder to write ID/ into (created if its parent exists).")
@click.option("--function", "functions", multiple=True, metavar="vllm.MODULE:CLASS.NAME",
              help="A vLLM function to wrap: vllm.module:Class.method (also a classmethod, "
                   "staticmethod or property) or vllm.module:function. Repeat for several.")
@click.option("--catalog", "old_catalog_dir", metavar="DIR", hidden=True,
              help="Deprecated spelling of --into.")
@click.option("--target", "old_functions", multiple=True, hidden=True,
              help="Deprecated spelling of --function.")
@click.option("--pr", metavar="N",
              help="The upstream pull request of the fix: 49391, vllm-project/vllm#49391 or "
                   "its URL (fills origin, upstream-pr and bug).")
@click.option("--release", metavar="VERSION",
              help="Read the targets from this vLLM release (fetched once into the user "
                   "cache): fix.py gets their kind and signature, patch.toml their pre-fix "
                   "fingerprint, so the patch loads at once.")
@click.option("--vllm", "vllm_dir", metavar="DIR",
              help="The same from the vLLM tree in DIR (the folder that holds vllm/).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@friendly_errors
def new(patch_id, catalog_dir, functions, old_catalog_dir, old_functions, pr, release, vllm_dir,
        as_json) -> None:
    """Write a new patch folder DIR/ID: patch.toml, fix.py and check.py.

    patch.toml has every field filled or marked TODO; fix.py wraps each target
    and changes nothing yet (vLLM's own function is called as
    _vllm_patches_orig_<name>); check.py is a behaviour check skeleton that
    fails verify until it is written. With --release or --vllm the wrappers
    have vLLM's signatures and patch.toml the targets' pre-fix fingerprints.
    Exit 1 when the tree given lacks a target (written, with a TODO).

    \b
    Example:
      vllm-patches catalog new my-fix --into ~/my-patches --pr 49391 --release 0.26.0 \\
          --function vllm.v1.engine.detokenizer:check_stop_strings
      vllm-patches catalog new sched-fix --into ~/my-patches \\
          --function vllm.v1.core.sched.scheduler:Scheduler.schedule --vllm ~/src/vllm-fork
    """
    from vllm_patches.authoring.scaffold import check_request, new_patch

    catalog_dir = _renamed("--catalog", "--into", old_catalog_dir, catalog_dir)
    targets = _renamed("--target", "--function", old_functions, functions)
    if not catalog_dir:
        raise Failure(messages.new_needs_into())
    if release and vllm_dir:
        raise Failure("Give --release or --vllm, not both: both name the vLLM to read the "
                       "targets from.")
    check_request(catalog_dir, patch_id, list(targets), pr)  # before a release is fetched
    install = None
    if release or vllm_dir:
        from vllm_patches.cli.fetch import release_tree
        from vllm_patches.core.detect import find_vllm

        install = find_vllm(release_tree(release) if release else vllm_dir)
    result = new_patch(catalog_dir, patch_id, list(targets), pr=pr, install=install)
    if as_json:
        emit_json(result.to_dict())
    else:
        _print_new(result, release)
    if install is not None and result.todo:
        sys.exit(EXIT_ATTENTION)


def _renamed(old: str, new: str, old_value, value):
    """The value of an option whose old name still works for one release (with a notice)."""
    if not old_value:
        return value
    deprecated(f"catalog new {old}", new)
    if value:
        raise Failure(messages.old_and_new_option(old, new))
    return old_value


def _print_new(result, release) -> None:
    source = f" from vLLM {result.version}" if result.version else ""
    click.echo(f"Wrote {result.folder}/ (patch.toml, fix.py, check.py){source}:")
    rows = [(f.spec.text, str(f.kind), f"pre-fix {f.fingerprint}" if f.fingerprint
             else "pre-fix TODO") for f in result.found]
    print_table(rows, indent="  ")
    for note in result.notes:
        click.echo(f"  note: {note}")
    if result.loads:
        click.echo("The patch loads now. Write the fix in fix.py and the check in check.py "
                   "(verify fails until check.py is written).")
    else:
        click.echo(f"It loads once it is fingerprinted: {result.load_message}")
    catalog_dir = result.folder.parent
    click.echo("next:")
    click.echo(f"  vllm-patches catalog fingerprint {result.id} --catalog {catalog_dir} "
               "--releases FIRST..LAST [--fixed-in RELEASE]")
    at = f" --release {release}" if release else " --target VLLM_TREE"
    click.echo(f"  vllm-patches verify {result.id} --catalog {catalog_dir}{at}")


# catalog fingerprint -------------------------------------------------------------------
@catalog.command("fingerprint")
@click.argument("patch_id", metavar="ID")
@click.option("--releases", metavar="RANGE|LIST",
              help="vLLM releases to read: a range (0.21.0..0.28.0, 0.25.0..: every release "
                   "on PyPI in it) or a list (0.21.0,0.22.1). Fetched once into the user cache.")
@click.option("--target", metavar="DIR",
              help="Read one vLLM tree instead (the folder that holds vllm/: a fork checkout).")
@click.option("--vllm-version", metavar="VERSION",
              help="The version of the --target tree, for trees whose version says nothing.")
@click.option("--fixed-in", metavar="RELEASE",
              help="The first release with upstream's fix: shapes first seen there or later "
                   "are fixed-upstream (default: the patch's applied-upstream).")
@click.option("--first-affected", metavar="RELEASE",
              help="The first release with the bug: new shapes seen only before it are left "
                   "out (default: the start of the patch's affected range, unless that is "
                   "still a TODO).")
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@catalog_option
@friendly_errors
def fingerprint(patch_id, releases, target, vllm_version, fixed_in,
                first_affected, dry_run, as_json) -> None:
    """Record the shapes of a patch's targets across vLLM releases in its patch.toml.

    For each release (or the --target tree) the fingerprint of every wrapped
    function is computed from vLLM's real file; patch.toml then gets each
    wrap's pre-fix and fixed-upstream lists, its [targets.wraps.seen] table
    (fingerprint = [releases]) and the affected range they imply, its
    comments and layout kept. Prints a table: release, fingerprint and shape
    (pre-fix, fixed, earlier, lacks) per wrapped function, and where the shape
    changes. Shapes first seen at or after --fixed-in (or applied-upstream)
    are fixed; new shapes seen only before the affected range (or
    --first-affected) are code from before the bug and are left out. Exit 1
    when something needs a look (a release that could not be fetched, a
    pre-fix shape past the fix).

    When the fix's release and the last affected one are known, it then lists
    upstream's test files that are new or changed in the fix's release and
    mention a patched function or module (from the two releases' sdists, whose
    tests/ are fetched once into the user cache through pip's index): the
    candidates for the patch's upstream tests. A sdist that cannot be had is
    one warning line.

    \b
    Example:
      vllm-patches catalog fingerprint my-fix --catalog ~/my-patches --releases 0.17.0..0.33.0
      vllm-patches catalog fingerprint my-fix --catalog ~/my-patches \\
          --releases 0.25.0..0.28.0 --fixed-in 0.27.0 --json
      vllm-patches catalog fingerprint my-fix --catalog ~/my-patches --target ~/src/vllm-fork
    """
    from packaging.version import InvalidVersion, Version

    from vllm_patches.authoring.fingerprint import find_patch_folder, read_draft, survey
    from vllm_patches.authoring.patch_toml import write_survey

    if bool(releases) == bool(target):
        raise Failure("Give --releases RANGE|LIST or --target DIR (one of them): the vLLM "
                       "code to fingerprint.")
    if vllm_version and not target:
        raise Failure("--vllm-version goes with --target DIR only; a release knows its "
                       "version.")
    def version(option: str, raw: str | None):
        try:
            return Version(raw) if raw is not None else None
        except InvalidVersion:
            raise Failure(f"{option} '{raw}' is not a vLLM release version "
                           "(example: 0.27.0).") from None

    boundary = version("--fixed-in", fixed_in)
    since = version("--first-affected", first_affected)
    draft = read_draft(find_patch_folder(patch_id))
    observations, skipped = _observe(draft, releases, target, vllm_version)
    result = survey(draft, observations, fixed_in=boundary, first_affected=since,
                    skipped=skipped)
    written = write_survey(result, dry_run=dry_run)
    upstream = _upstream_candidates(result)
    if as_json:
        emit_json({**_fingerprint_json(result, written, dry_run),
                   "upstream_test_candidates": upstream})
    else:
        _print_survey(result, written, dry_run)
        _print_candidates(upstream)
    if result.attention:
        sys.exit(EXIT_ATTENTION)


def _observe(draft, releases, target, vllm_version):
    from vllm_patches.authoring.fingerprint import observe
    from vllm_patches.core.releases import ReleaseError, is_cached, release_tree

    if target:
        from vllm_patches.core.detect import find_vllm

        install = find_vllm(target, vllm_version)
        version = str(install.version) if install.version else None
        return [observe(draft, install.location, version,
                        name=version or str(install.location))], []
    from vllm_patches.core.release_index import parse_releases

    versions = parse_releases(releases)
    observations, skipped = [], []
    for i, version in enumerate(versions, start=1):
        if not is_cached(version):
            click.echo(f"fetching {version} ({i}/{len(versions)})...", err=True)
        try:
            tree = release_tree(version)
        except ReleaseError:
            click.echo(f"vllm-patches: {version} could not be fetched; going on without it.",
                       err=True)
            skipped.append((version, "its wheel could not be downloaded"))
            continue
        observations.append(observe(draft, tree, version))
    return observations, skipped


def _cell(fp, shape) -> str:
    return f"{fp or '-'} {shape}"


def _print_survey(result, written: bool, dry_run: bool) -> None:
    draft = result.draft
    fixed = (f"fixed in {result.boundary} ({result.boundary_from})" if result.boundary
             else "no fix release known")
    click.echo(f"{draft.id} ({draft.path}), {fixed}:")
    click.echo("")
    labels = [w.draft.label for w in result.wraps]
    rows = [("RELEASE", *labels, "SHAPE CHANGE")]
    for row in result.rows:
        o = row.observation
        rows.append((o.name, *(_cell(o.prints[label], row.shapes[label]) for label in labels),
                     ", ".join(row.changes)))
    print_table(rows)
    for version, why in result.skipped:
        click.echo(f"{version}  not surveyed: {why}")
    click.echo("")
    for w in result.wraps:
        lacks = {r.observation.why.get(w.draft.label) for r in result.rows} - {None}
        if lacks:
            click.echo(f"{w.draft.label} lacks: {'; '.join(sorted(lacks))}")
    click.echo(f"affected: {result.affected or draft.affected or '(none)'}")
    changes = result.changes
    for change in changes:
        click.echo(f"  {change}")
    for note in result.notes:
        click.echo(f"note: {note}")
    if dry_run:
        click.echo(f"dry run: {draft.path} would change" if written
                   else f"dry run: {draft.path} already records this")
    elif written:
        click.echo(f"wrote {draft.path}")
    else:
        click.echo(f"{draft.path} unchanged: it already records these shapes")
    for line in result.attention:
        click.echo(f"vllm-patches: {line}", err=True)


def _upstream_candidates(result) -> dict | None:
    """The upstream test files for the author to choose from: new or changed in the fix's
    release's sdist and mentioning a patched function or module (None while the fix's
    release or the last affected one is unknown). A sdist that cannot be had is one
    warning line, never a failure of fingerprint."""
    from vllm_patches.authoring.upstream_candidates import (
        candidate_tests,
        needles_of,
        releases_around_fix,
    )
    from vllm_patches.core.errors import VllmPatchesError

    around = releases_around_fix(result)
    if around is None:
        return None
    last, first = around
    needles = needles_of(w.draft for w in result.wraps)
    out = {"last_affected": last, "first_fixed": first, "needles": needles, "tests": None,
           "error": None}
    try:
        tests = candidate_tests(last, first, needles,
                                progress=lambda line: click.echo(line, err=True))
    except VllmPatchesError as exc:
        click.echo(f"vllm-patches: {messages.candidates_unlisted(str(exc))}", err=True)
        out["error"] = str(exc)
        return out
    out["tests"] = [c.to_dict() for c in tests]
    return out


def _print_candidates(upstream: dict | None) -> None:
    if upstream is None or upstream["tests"] is None:
        return
    click.echo(messages.candidates_heading(upstream["first_fixed"], upstream["last_affected"],
                                           upstream["needles"], bool(upstream["tests"])))
    if upstream["tests"]:
        print_table([(t["change"].upper(), f"{t['path']} ({', '.join(t['needles'])})")
                     for t in upstream["tests"]], indent="  ")


def _fingerprint_json(result, written: bool, dry_run: bool) -> dict:
    draft = result.draft
    return {
        "patch": draft.id,
        "file": str(draft.path),
        "fixed_in": ({"version": str(result.boundary), "from": result.boundary_from}
                     if result.boundary else None),
        "releases": [{"version": r.observation.version, "name": r.observation.name,
                      "wraps": {label: {"fingerprint": r.observation.prints[label],
                                        "shape": str(shape),
                                        "lacks": r.observation.why.get(label)}
                                for label, shape in r.shapes.items()},
                      "changes": r.changes} for r in result.rows],
        "skipped": [{"version": v, "reason": why} for v, why in result.skipped],
        "wraps": [{"target": w.draft.spec, "pre_fix": w.pre_fix, "fixed_upstream": w.fixed,
                   "seen": w.seen} for w in result.wraps],
        "affected": {"before": draft.affected, "after": result.affected or draft.affected},
        "applied_upstream": {
            "before": str(draft.applied_upstream) if draft.applied_upstream else None,
            "after": result.applied_upstream or (
                str(draft.applied_upstream) if draft.applied_upstream else None)},
        "changes": result.changes,
        "written": written and not dry_run,
        "dry_run": dry_run,
        "notes": result.notes,
        "attention": result.attention,
    }


@catalog.command("check")
@click.argument("folders", nargs=-1, metavar="[DIR]...",
                type=click.Path(file_okay=True, dir_okay=True, path_type=Path))
@click.option("--releases-from-seen", is_flag=True,
              help="Check each patch only on the releases its seen tables record; never ask "
              "the package index (a patch without seen data then gets its metadata and "
              "overlaps checked only).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def check(folders, releases_from_seen, as_json) -> None:
    """Check a patch catalogue end to end: the CI for the built-in one and for yours.

    DIR is a catalogue folder (a folder of patch folders) or one patch folder;
    without DIR, the built-in catalogue. For each patch: its metadata loads
    and says why, how and when to drop it (none still a TODO); every
    fingerprint its seen tables record matches the real release files; the
    fix applies in source mode to each affected release and reverts byte for
    byte; on the first and last affected release it applies at run time
    in a process that imports that release, and its check.py PASSes. Two
    patches that wrap the same function must say how they compose. Releases
    whose modules cannot be imported here, and GPU checks without a GPU, are
    reported "not run". Progress goes to stderr.

    Exit 0 when nothing failed (warnings and "not run" included), 1 when a
    step failed, 2 on bad input.

    \b
    Example:
      vllm-patches catalog check
      vllm-patches catalog check ~/my-patches --json > check.json
      vllm-patches catalog check ~/my-patches/my-fix --releases-from-seen
    """
    from vllm_patches.authoring.check import check as run_check

    report = friendly_errors(run_check)(
        folders, releases_from_seen=releases_from_seen,
        progress=lambda line: click.echo(line, err=True))
    if as_json:
        emit_json(report.to_dict())
    else:
        _print(report)
    if not report.ok:
        sys.exit(EXIT_ATTENTION)


def _print(report) -> None:
    from vllm_patches.authoring.check import Mark

    rows = report.sorted_rows()
    click.echo(f"Checked {len(report.patches)} patch(es) of "
               f"{', '.join(str(f) for f in report.folders)}: "
               + ", ".join(_counted(report.count(r), r) for r in Mark))
    click.echo("")
    for patch_id in report.patches:
        mine = [r for r in rows if r.patch == patch_id]
        click.echo(f"  {patch_id}: " + "; ".join(_summary(step, [r for r in mine if r.step == step])
                                             for step in dict.fromkeys(r.step for r in mine)))
    shown = [r for r in rows if r.result != Mark.OK]
    if not shown:
        return
    click.echo("")
    failed = [r for r in shown if r.result == Mark.FAIL]
    click.echo("What failed, then the warnings and steps not run:" if failed
               else "Warnings and steps not run:")
    table = [("PATCH", "STEP", "RELEASE", "RESULT", "WHY")] + [
        (r.patch, str(r.step), r.release, str(r.result), r.why)
        for r in failed + [r for r in shown if r.result != Mark.FAIL]]
    print_table(table)


def _summary(step, rows) -> str:
    from vllm_patches.authoring.check import Mark

    counts = {r: sum(1 for row in rows if row.result == r) for r in Mark}
    return f"{step} " + ", ".join(_counted(n, r) for r, n in counts.items() if n)


def _counted(n: int, result) -> str:
    from vllm_patches.authoring.check import Mark

    word = {Mark.FAIL: "failed", Mark.WARNING: "warnings" if n != 1 else "warning"}
    return f"{n} {word.get(result, str(result))}"


# catalog list --------------------------------------------------------------------------
@catalog.command("list")
@click.argument("folders", nargs=-1, metavar="[DIR]...",
                type=click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON for machines: every field of each patch.")
@click.option("--markdown", is_flag=True,
              help="Print a Markdown table (the README's catalogue table is this output).")
@friendly_errors
def list_patches(folders, as_json, markdown) -> None:
    """List the patches of the catalogues: id, affected releases, upstream fix, title.

    DIR is a catalogue folder; without DIR, every catalogue vllm-patches reads
    (the built-in one, --catalog and VLLM_PATCHES_CATALOG folders, installed
    catalogue packages). An entry that does not load is named on stderr (exit
    1); the others are listed.

    \b
    Example:
      vllm-patches catalog list
      vllm-patches catalog list ~/my-patches --json
      vllm-patches catalog list --markdown > catalogue.md
    """
    from vllm_patches.core.catalog import load_catalog_report

    if as_json and markdown:
        raise Failure(messages.list_one_format())
    reports = [load_catalog_report(f) for f in folders] or [load_catalog_report()]
    patches = sorted((p for good, _ in reports for p in good), key=lambda p: p.id)
    if as_json:
        emit_json({"patches": [_listed(p) for p in patches]})
    elif markdown:
        click.echo(_markdown(patches), nl=False)
    else:
        print_table([("ID", "AFFECTED", "UPSTREAM", "FIXED IN", "TITLE")] + [
            (p.id, p.affected_text or "", p.upstream_pr, _fixed_in(p), p.title)
            for p in patches])
    problems = [problem for _, bad in reports for problem in bad]
    for problem in problems:
        click.echo(f"vllm-patches: {messages.list_skipped(problem.message)}", err=True)
    if problems:
        sys.exit(EXIT_ATTENTION)


def _listed(patch) -> dict:
    return {**patch.to_dict(), "folder": str(patch.folder)}


def _fixed_in(patch) -> str:
    return str(patch.applied_upstream) if patch.applied_upstream else "not upstream yet"


def _markdown(patches) -> str:
    """A Markdown table: id, affected releases, title, the upstream fix and its release."""
    lines = ["| id | vLLM | what it does | upstream |", "| --- | --- | --- | --- |"]
    for p in patches:
        fixed = f"fixed in {p.applied_upstream}" if p.applied_upstream else "not upstream yet"
        cells = (f"`{p.id}`", f"`{p.affected_text}`", p.title,
                 f"[{p.upstream_pr}]({p.origin}), {fixed}")
        lines.append("| " + " | ".join(_cell_md(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _cell_md(text: str) -> str:
    """One table cell: on one line, its pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")
