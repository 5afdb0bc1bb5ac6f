"""The ``vllm-patches`` command line.

Exit codes, for CI gates: 0 success; 1 the command ran and found something
that needs attention (``status --check``, a refused or failed patch); 2 bad
input, a tree that cannot be worked on, or an output that cannot be written
(``> /dev/full``), with one sentence on stderr; 141 quietly when the reader of
the output went away (``| head``).
Commands import torch and vLLM only where a patch must run.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import replace

import click

from vllm_patches.cli import messages

from vllm_patches.source import messages as source_messages
from vllm_patches._version import __version__
from vllm_patches.verify.gpu.defaults import DEFAULT_SIZES, GEMMA4_ASSISTANT

EXIT_ATTENTION = 1
EXIT_BAD_INPUT = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell shows for a writer whose pipe closed


class Failure(click.ClickException):
    """One clear sentence on stderr and exit code 2, never a traceback."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file=None) -> None:
        click.echo(f"vllm-patches: {self.message}", err=True)


def friendly_errors(func):
    """Turn the package's known errors into a Failure."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from vllm_patches.core.errors import VllmPatchesError

        try:
            return func(*args, **kwargs)
        except VllmPatchesError as exc:
            raise Failure(str(exc)) from None

    return wrapper


def target_options(func):
    """--target DIR and --vllm-version V, shared by every command that reads a tree."""
    func = click.option(
        "--vllm-version",
        metavar="VERSION",
        help="Treat the vLLM as this version (for builds whose version says nothing useful). "
        "Also VLLM_PATCHES_VLLM_VERSION.",
    )(func)
    return click.option(
        "--target",
        type=str,
        metavar="DIR",
        help="Folder that holds the vllm/ package (a fork checkout or a site-packages) "
        "instead of the installed vLLM.",
    )(func)


def _use_catalogs(ctx, param, folders) -> None:
    """--catalog DIR: add user catalogues for this command (and the processes it starts)."""
    import os

    from vllm_patches.core.catalog_files import CATALOG_ENV

    for folder in folders:
        if not os.path.isdir(folder):
            raise Failure(f"--catalog {folder}: no such folder (a catalogue is a folder of "
                          "patch folders, each with a patch.toml).")
    if folders:
        given = [os.path.abspath(f) for f in folders]
        current = [p for p in os.environ.get(CATALOG_ENV, "").split(os.pathsep) if p]
        os.environ[CATALOG_ENV] = os.pathsep.join(dict.fromkeys(given + current))


def catalog_option(func):
    """--catalog DIR (repeatable), shared by every command that reads the catalogue."""
    return click.option(
        "--catalog", "catalogs", multiple=True, metavar="DIR", expose_value=False,
        is_eager=True, callback=_use_catalogs,
        help="A catalogue of your own patches (a folder of patch folders) beside the built-in "
        "one; repeat for several. Also VLLM_PATCHES_CATALOG (a path list).",
    )(func)


def emit_json(data: object) -> None:
    import json

    click.echo(json.dumps(data, indent=2, sort_keys=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vllm-patches")
def cli() -> None:
    """Upstream vLLM fixes for the vLLM you run.

    Exit codes, the same for every command (CI gates can rely on them):
    0 every fix this vLLM needs is in place (or was put in now); 1 one is
    still missing: skipped, refused, blocked by a fork's change, or without
    evidence; 2 bad input (one sentence on stderr, nothing changed).

    \b
    Example:
      vllm-patches status
      vllm-patches status --target ~/src/vllm-fork --json
      vllm-patches hook install
      vllm-patches uninstall && pip uninstall vllm-patches
    """


@cli.command()
@target_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 when a patch is applicable but not applied, or blocked by a fork's change. "
    "With --report and --run: exit 0 only when the lines of that run prove every patch asked "
    "about (all without IDs) in place or not needed in each process that imported its "
    "target; exit 1 when a process could not apply one, and when there is no evidence (no "
    "line of that run, an unreadable line, no line for a patch ID given, or a report that "
    "is a symlink, too large, or a file another user could have written), with the reason "
    "on stderr.",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=True, path_type=str),
    metavar="FILE",
    help="Summarise, per process, the VLLM_PATCHES_REPORT file that vLLM's processes wrote, "
    "and list the runs it holds.",
)
@click.option(
    "--run",
    "run_id",
    metavar="ID",
    help="With --report: only the lines of this run (the VLLM_PATCHES_RUN of the vLLM "
    "processes; the first process that arms makes one when it is unset). --check needs it, "
    "so that a run's evidence never passes for another's.",
)
@click.option(
    "--metrics",
    "metrics_url",
    metavar="URL",
    help="Read a running vLLM server's /metrics (http://HOST:PORT[/metrics]) and show, per "
    "patch, how many of its processes run the fix. With --check: exit 1 unless every patch "
    "that applies to that server's vLLM is in place in each process that imported its target, "
    "and every process is counted (PROMETHEUS_MULTIPROC_DIR).",
)
@click.argument("ids", nargs=-1, metavar="[ID]...")
@catalog_option
@friendly_errors
def status(target, vllm_version, as_json, check, report_file, run_id, metrics_url,
           ids) -> None:
    """Show the vLLM found and the state of each catalogued patch.

    States: applicable, applied, fixed-upstream, not-applicable, target-modified.
    With --report FILE: what each vLLM process (API server, engine core,
    workers) recorded, to prove that every one of them runs the fix. With
    --metrics URL: the same proof from a running server's /metrics.

    \b
    Example:
      vllm-patches status
      vllm-patches status --target /srv/vllm-fork --json
      vllm-patches status --check    # exit 1 if a fix is still missing (neither in the
                                     # files nor applied by the plugin at start-up)
      export VLLM_PATCHES_RUN=deploy-$(date +%s) VLLM_PATCHES_REPORT=~/run/patches.jsonl
      vllm serve ...
      vllm-patches status --report ~/run/patches.jsonl --check --run "$VLLM_PATCHES_RUN"
      vllm-patches status --metrics http://127.0.0.1:8000/metrics --check
    """
    if metrics_url is not None:
        if target is not None or vllm_version is not None or report_file or run_id:
            raise Failure(messages.metrics_with_other_source())
        from vllm_patches.cli.metrics import show_metrics

        show_metrics(metrics_url, ids, as_json, check)
        return
    if report_file is not None:
        if target is not None or vllm_version is not None:
            raise Failure(messages.report_with_target())
        _report_status(report_file, ids, as_json, check, run_id)
        return
    if run_id is not None:
        raise Failure(messages.run_without_report())
    from vllm_patches.core.catalog import select
    from vllm_patches.core.detect import find_vllm
    from vllm_patches.core.state import APPLICABLE, TARGET_MODIFIED, patch_status

    install = find_vllm(target, vllm_version)
    record, pending = _source_record(install)
    statuses = [patch_status(p, install, record=record) for p in select(ids)]
    # Auto-patching concerns the vLLM of this environment, not a --target tree.
    auto = None
    if target is None and install is not None:
        from vllm_patches.runtime.autopatch import describe

        auto = describe()
        if auto.selection_problem is not None:
            click.echo(f"vllm-patches: warning: {auto.selection_problem}.", err=True)
    covered = {s.patch.id for s in statuses
               if auto is not None and s.state == APPLICABLE and auto.covers(s.patch.id)}
    statuses = [replace(s, next_step=messages.next_apply_covered(s.patch.id)
                        if s.patch.id in covered else auto.next_step(s.patch.id))
                if auto is not None and s.state == APPLICABLE else s for s in statuses]
    conflicts = _conflicts(statuses)
    if as_json:
        emit_json({
            "vllm": install.to_dict() if install else None,
            "autopatch": auto.to_dict() if auto else None,
            "patches": [{**s.to_dict(), "autopatch": s.patch.id in covered} for s in statuses],
            "conflicts": [{"patches": [o.first.id, o.second.id], "functions": list(o.functions),
                           "composition": str(o.composition),
                           "says": f"{o.first.id} {o.describe(o.first)}"} for o in conflicts],
            "pending_write": pending,
        })
    else:
        _print_status(install, statuses, auto)
        for o in conflicts:
            click.echo("\n" + messages.status_conflict(o.first.id, o.describe(o.first)))
        if pending:
            click.echo("\n" + source_messages.source_pending(install.location))
    needs = [s for s in statuses if s.state == TARGET_MODIFIED
             or (s.state == APPLICABLE and s.patch.id not in covered)]
    if check and needs:
        sys.exit(EXIT_ATTENTION)


def _conflicts(statuses):
    """Pairs of the listed patches that must not both be in place, where both concern this
    vLLM (neither is fixed upstream or not applicable here)."""
    from vllm_patches.core.overlaps import overlaps
    from vllm_patches.core.state import FIXED_UPSTREAM, NOT_APPLICABLE

    live = [s.patch for s in statuses if s.state not in (FIXED_UPSTREAM, NOT_APPLICABLE)]
    return [o for o in overlaps(live) if o.conflicting]


def _source_record(install):
    """The tree's source-mode record (None, with a warning, when corrupt) and whether an
    interrupted write is pending there."""
    if install is None or not (install.location / ".vllm-patches").is_dir():
        return None, False  # never source-patched: no need to import the record's modules
    from vllm_patches.source.record import RecordError, load, state_dir
    from vllm_patches.source.transaction import pending

    try:
        record = load(install.location)
    except RecordError as exc:
        click.echo(f"vllm-patches: warning: {exc}", err=True)
        record = None
    return record, pending(state_dir(install.location))


def _print_status(install, statuses, auto=None) -> None:
    if install is None:
        click.echo(messages.status_no_vllm())
    else:
        version = install.version or "version unknown (use --vllm-version)"
        extra = ", editable" if install.editable else ""
        click.echo(f"vLLM {version} at {install.location} ({install.version_from}{extra})")
    if auto is not None:
        click.echo(auto.summary())
    click.echo("")
    from vllm_patches.core.catalog import builtin

    own = any(not builtin(s.patch) for s in statuses)  # user catalogues: say whose patch
    rows = [("PATCH", "STATE", "AFFECTED", "UPSTREAM") + (("CATALOG",) if own else ())] + [
        (s.patch.id, s.state + (f" ({s.mode})" if s.mode else ""), s.patch.affected_text,
         s.patch.upstream_pr)
        + (("built-in" if builtin(s.patch) else str(s.patch.folder.parent),) if own else ())
        for s in statuses
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths)) + "  " + row[-1])
    for s in statuses:
        click.echo(f"\n{s.patch.id}: {s.reason}\n  next: {s.next_step}")


@cli.command()
@click.option("--repo", default=".", show_default=True, metavar="PATH",
              type=click.Path(file_okay=False, path_type=str),
              help="The fork's git repository (any folder inside it).")
@click.option("--onto", multiple=True, metavar="BRANCH",
              help="A branch to put the fixes on; repeat for several.")
@click.option("--patch", "ids", multiple=True, metavar="ID",
              help="Only this patch; repeat for several (default: every catalogued patch).")
@click.option("--branch", metavar="NAME",
              help="Name of the new branch; {patch} and {onto} are replaced.  "
                   "[default: backport/{patch}/{onto}]")
@click.option("--strategy", type=click.Choice(["edit", "cherry-pick"]), default="edit",
              show_default=True,
              help="edit: write the catalogued fix with the source engine; cherry-pick: "
                   "git cherry-pick -x the fix's upstream commit when the repo has it.")
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
@click.option("--force", is_flag=True,
              help="Write the fix even where the fork changed the target code (edit strategy).")
@click.option("--keep-conflicts", is_flag=True,
              help="Leave a refused or conflicting backport in a worktree for you to finish "
                   "with --continue (or drop with --abort).")
@click.option("--continue", "resume", is_flag=True,
              help="Commit what you did in the worktrees left by --keep-conflicts.")
@click.option("--abort", is_flag=True,
              help="Remove the worktrees and branches left by --keep-conflicts.")
@click.option("--vllm-version", metavar="VERSION",
              help="Treat every --onto branch as this vLLM version.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@catalog_option
@friendly_errors
def backport(repo, onto, ids, branch, strategy, dry_run, force, keep_conflicts, resume, abort,
             vllm_version, as_json) -> None:
    """Put catalogued fixes on fork branches, one reviewable commit each.

    For each --onto branch: read its vLLM version (--vllm-version, a committed
    vllm/_version.py, else the nearest version tag) and judge each patch as
    status does; where the fix is needed, commit it on a new branch whose
    message names the upstream PR and carries Backport-of, Origin, Patch-id
    and Applied-by trailers. Work happens in a temporary git worktree: your
    checkout, HEAD, index and stash are never touched, and a refused or
    conflicting backport leaves nothing behind (unless --keep-conflicts).

    Exit 0 when every branch got its commit or needs none, 1 when one is
    blocked or left to you, 2 on bad input.

    \b
    Example:
      vllm-patches backport --repo ~/src/vllm-fork --onto acme/v0.22-prod --onto acme/v0.21-prod
      vllm-patches backport --onto acme/v0.22-prod --patch gemma4-mtp-stable-lm-head --dry-run
      vllm-patches backport --onto acme/v0.22-custom --keep-conflicts
      vllm-patches backport --continue      # after making the change by hand
    """
    from vllm_patches.backport import workflow as verbs
    if resume and abort:
        raise Failure(messages.backport_continue_and_abort())
    if (resume or abort) and (onto or ids or branch or dry_run or force or keep_conflicts):
        raise Failure(messages.backport_continue_alone())
    if resume:
        results = verbs.resume(repo)
    elif abort:
        results = verbs.abort(repo)
    else:
        results = verbs.backport(repo, onto, ids, branch=branch, strategy=strategy,
                                 dry_run=dry_run, force=force,
                                 keep_conflicts=keep_conflicts, vllm_version=vllm_version)
    if as_json:
        emit_json({"results": [r.to_dict() for r in results]})
    else:
        _print_backport(results)
    if not all(r.ok for r in results):
        sys.exit(EXIT_ATTENTION)


def _print_backport(results) -> None:
    versions = {}
    for r in results:
        versions.setdefault(r.onto, (r.vllm_version, r.version_from))
    for onto, (version, origin) in versions.items():
        click.echo(f"{onto}: vLLM {version or 'unknown'} ({origin})")
    click.echo("")
    rows = [("ONTO", "PATCH", "OUTCOME", "NEW BRANCH", "COMMIT")] + [
        (r.onto, r.patch, r.outcome, r.branch or "-", (r.sha or "-")[:12]) for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
    click.echo("")
    for r in results:
        click.echo(f"{r.onto} / {r.patch}: {r.reason}")


@cli.command()
@target_options
@click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False, path_type=str),
              help="Write the mbox to FILE (default: standard output).")
@click.option("--author", metavar="'NAME <EMAIL>'",
              help="The From: of each message, which git am makes the commit's author "
                   "(default: vllm-patches <vllm-patches@noreply.invalid>).")
@click.option("--force", is_flag=True,
              help="Write the fix even where the fork changed the target code.")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@catalog_option
@friendly_errors
def export(target, vllm_version, output, author, force, ids) -> None:
    """Write fixes as a git format-patch mbox, for git am or quilt.

    The diff is computed now from the target tree's files (paths relative to
    the folder that holds vllm/), under the same message and trailers as a
    backport commit. Exit 1 when a fix cannot be written into that tree.

    \b
    Example:
      vllm-patches export gemma4-mtp-stable-lm-head --target ~/src/vllm-fork -o 43909.mbox
      cd ~/src/vllm-fork && git am --keep-non-patch 43909.mbox   # keeps the [Backport] tag
    """
    from vllm_patches.core.catalog import select
    from vllm_patches.core.detect import find_vllm
    from vllm_patches.source.export import DEFAULT_AUTHOR, ExportError
    from vllm_patches.source.export import export as export_mbox
    from vllm_patches.core.sourcefile import diff_bytes

    install = find_vllm(target, vllm_version)
    if install is None:
        raise Failure(messages.export_no_vllm())
    try:
        text = export_mbox(select(ids), install, force=force,
                           author=DEFAULT_AUTHOR if author is None else author)
    except ExportError as exc:
        click.echo(f"vllm-patches: {exc}", err=True)
        sys.exit(EXIT_ATTENTION)
    if output is None:
        click.echo(diff_bytes(text), nl=False)
        return
    _write_output(output, diff_bytes(text))
    click.echo(messages.export_written(output, len(ids)), err=True)
# Source mode ------------------------------------------------------------------
def _release_option(func):
    return click.option(
        "--release",
        metavar="VERSION",
        help="Work on the files of this vLLM release, fetched with pip into the user cache "
        "(read-only: for review, without installing it).",
    )(func)


def _source_install(target, vllm_version, release=None):
    from vllm_patches.core.detect import find_vllm

    if target and release:
        raise Failure(messages.source_target_and_release())
    if release:
        from vllm_patches.cli.fetch import release_tree

        target = release_tree(release, compiled=True)
    install = find_vllm(target, vllm_version)
    if install is None:
        raise Failure(messages.source_no_vllm())
    return install


def _selected(ids):
    from vllm_patches.core.catalog import select

    return select(ids) if ids else None


def _report(report, as_json, *, quiet_stdout=False, empty="") -> None:
    """Results, one sentence each: refusals on stderr, the rest on stdout (or stderr)."""
    if as_json:
        emit_json(report.to_dict())
    else:
        install = report.install
        version = install.version or "version unknown"
        click.echo(f"vLLM {version} at {install.location}", err=quiet_stdout)
        if not report.results:
            click.echo(f"  {empty}", err=quiet_stdout)
        for result in report.results:
            if result.ok:
                click.echo(f"  {result.message}", err=quiet_stdout)
            else:
                click.echo(f"vllm-patches: {result.message}.", err=True)
    if not report.ok:
        sys.exit(EXIT_ATTENTION)


@cli.command()
@target_options
@_release_option
@click.option("--dry-run", is_flag=True,
              help="Print the unified diff (git apply -p1 takes it) and write nothing.")
@click.option("--force", is_flag=True,
              help="Write a fix over methods that a fork changed (review the result).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@catalog_option
@friendly_errors
def apply(target, vllm_version, release, dry_run, force, as_json, ids) -> None:
    """Write fixes into vLLM's own files (source mode).

    Without ID: every patch whose state is applicable. Without --target: the
    installed vLLM. All files of the patches change together or not at all;
    the record of what was written is kept in .vllm-patches/ beside vllm/.
    A second apply does nothing and says so. Exit 1 when a named patch is
    refused (a fork changed its code: review, then --force or backport).

    \b
    Example:
      vllm-patches apply
      vllm-patches apply gemma4-mtp-stable-lm-head --target ~/src/vllm-fork
      vllm-patches apply --dry-run --release 0.22.1 > fix.patch
    """
    from vllm_patches.source import plan as source
    if release and not dry_run:
        raise Failure(messages.source_release_is_read_only())
    install = _source_install(target, vllm_version, release)
    report = source.apply(install, _selected(ids), force=force, dry_run=dry_run)
    if dry_run and not as_json:
        from vllm_patches.core.sourcefile import diff_bytes

        click.echo(diff_bytes(report.diff), nl=False)
    _report(report, as_json, quiet_stdout=dry_run, empty=messages.source_nothing_selected())


@cli.command()
@target_options
@click.option("--force", is_flag=True,
              help="Take the fix out of files that changed since it was applied, "
              "or drop a stale record.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@catalog_option
@friendly_errors
def revert(target, vllm_version, force, as_json, ids) -> None:
    """Give vLLM's files their original bytes back (undo apply).

    Without ID: every patch applied in source. Refuses a file that changed
    since it was patched (pip reinstall, an edit) unless --force.

    \b
    Example:
      vllm-patches revert
      vllm-patches revert gemma4-mtp-stable-lm-head --target ~/src/vllm-fork
    """
    from vllm_patches.source import plan as source
    install = _source_install(target, vllm_version)
    report = source.revert(install, _selected(ids), force=force)
    _report(report, as_json, empty=messages.source_nothing_to_revert())


@cli.command()
@target_options
@_release_option
@click.option("--force", is_flag=True, help="Show the fix over methods that a fork changed.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              metavar="FILE", help="Write the diff to FILE instead of stdout.")
@click.option("--mail", is_flag=True,
              help="One mail per patch in git format-patch style, for git am.")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@catalog_option
@friendly_errors
def diff(target, vllm_version, release, force, output, mail, ids) -> None:
    """Print what apply would write, as a unified diff; write nothing to the tree.

    Paths are relative to the folder that holds vllm/ (a/ and b/ prefixes),
    so `git apply -p1` takes the diff there; --mail output goes to `git am`
    (use `git am --keep-cr` for files with CRLF or CR line endings). The
    diff holds the file's own bytes, in the encoding it declares.

    \b
    Example:
      vllm-patches diff --release 0.22.1
      vllm-patches diff --release 0.22.1 -o fix.patch
      cd ~/src/vllm-fork && vllm-patches diff --target . --mail -o fix.mbox && git am fix.mbox
    """
    from vllm_patches.source import plan as source
    from vllm_patches.core.sourcefile import diff_bytes

    install = _source_install(target, vllm_version, release)
    report = source.diff(install, _selected(ids), force=force, mail=mail)
    if output:
        _write_output(output, diff_bytes(report.diff))
    else:
        click.echo(diff_bytes(report.diff), nl=False)
    _report(report, False, quiet_stdout=True, empty=messages.source_nothing_selected())


def _write_output(path: str, data: bytes) -> None:
    """Write an -o FILE; one sentence (exit 2) when it cannot be written, such as into a
    folder that does not exist."""
    from pathlib import Path

    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise Failure(messages.export_unwritable(path, exc)) from None


def _report_status(path: str, ids, as_json: bool, check: bool, run_id: str | None) -> None:
    from vllm_patches.runtime import report
    from vllm_patches.core.catalog import get_patch

    run_id = _asked_run(path, run_id, check)
    for patch_id in ids:
        get_patch(patch_id)  # an unknown id is bad input, as for status without --report
    try:
        entries, unreadable = report.read(path)
    except report.NotEvidence as exc:
        click.echo(f"vllm-patches: {exc}", err=True)
        sys.exit(EXIT_ATTENTION)
    held = report.runs(entries)
    chosen = entries if run_id is None else report.of_run(entries, run_id)
    records = report.summarize(chosen, ids)
    patched = [r for r in records if r.target_imported]
    armed_only = [r for r in records if not r.target_imported]
    problem = report.check(path, records, len(chosen), unreadable, ids, run_id, held)
    if as_json:
        emit_json({"report": path, "run": run_id, "runs": [r.to_dict() for r in held],
                   "processes": [r.to_dict() for r in patched],
                   "armed_target_not_imported": [r.to_dict() for r in armed_only],
                   "unreadable_lines": unreadable,
                   "check": {"passed": problem is None, "problem": problem}})
    else:
        _print_report(path, patched, armed_only, unreadable, run_id)
        _print_runs(held)
    if check and problem is not None:
        click.echo(f"vllm-patches: {problem}", err=True)
        sys.exit(EXIT_ATTENTION)


def _asked_run(path: str, run_id: str | None, check: bool) -> str | None:
    """The run that --run names; bad input when it is empty, or missing for --check (a
    report can hold an earlier run's lines: only the run's id tells them apart)."""
    if run_id is not None and not run_id.strip():
        raise Failure(messages.report_empty_run())
    if check and run_id is None:
        raise Failure(messages.report_check_needs_run(path))
    return run_id.strip() if run_id is not None else None


def _print_report(path: str, patched, armed_only, unreadable: int, run_id=None) -> None:
    """The processes with patch outcomes, one row each, then those that only armed; a RUN
    column when they belong to more than one run."""
    from vllm_patches.runtime.report import outcome_counts, outcome_label

    run = _run_column({r.run for r in (*patched, *armed_only)})
    if not patched:
        click.echo(messages.report_empty(path, run_id))
        if unreadable:
            click.echo(f"({unreadable} unreadable line(s) ignored)")
    else:
        click.echo(messages.report_heading(path, len(patched), unreadable, run_id))
        click.echo("")
        patch_ids = sorted({p for r in patched for p in r.patches})
        _print_rows([(*run(None), "PID", "PARENT", "VLLM", "VIA", "PROCESS", *patch_ids)] + [
            (*run(r), str(r.pid), str(r.ppid), r.vllm, r.via, _shorten(r.process, 40),
             *(outcome_label(r.patches[p]) if p in r.patches else "-" for p in patch_ids))
            for r in patched
        ])
        click.echo("")
        for patch_id, counts in sorted(outcome_counts(patched).items()):
            click.echo(messages.report_patch_line(patch_id, counts, len(patched)))
    if armed_only:
        click.echo("")
        click.echo(f"{len(armed_only)} process(es) armed; target not imported "
                   "(the plugin loaded, no patched module was imported there):")
        click.echo("")
        _print_rows([(*run(None), "PID", "PARENT", "VIA", "ARMED", "PROCESS")] + [
            (*run(r), str(r.pid), str(r.ppid), r.via,
             r.armed if isinstance(r.armed, str) else ",".join(r.armed or ()),
             _shorten(r.process, 40))
            for r in armed_only
        ])


def _run_column(runs: set):
    """``cells(record)``: the RUN cell of a row (the heading for None), or no cell at all when
    every row is of one run."""
    def cells(rec) -> tuple[str, ...]:
        if len(runs) < 2:
            return ()
        return ("RUN",) if rec is None else (rec.run or "-",)

    return cells


def _print_runs(held) -> None:
    """The runs of the whole report, oldest first: what --run can ask about."""
    if not held:
        return
    click.echo("")
    click.echo(messages.report_runs_heading(len(held)))
    click.echo("")
    _print_rows([("RUN", "FIRST LINE", "LAST LINE", "PROCESSES")] + [
        (r.id or messages.report_no_run(), r.first_time or "-", r.last_time or "-",
         str(r.processes))
        for r in held
    ])


def _print_rows(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def site_option(func):
    return click.option(
        "--site",
        type=click.Path(path_type=str),
        metavar="DIR",
        help="The site-packages folder to use (default: this Python's).",
    )(func)


@cli.group()
def hook() -> None:
    """The opt-in .pth hook: patch vLLM in Python processes that vLLM does not start.

    vLLM's own processes are patched by the vllm.general_plugins entry point
    without this. The hook is one line in a .pth file of a site-packages
    folder; it costs well under 5 ms at interpreter start-up.

    \b
    Example:
      vllm-patches hook install
      vllm-patches hook status --json
      vllm-patches hook uninstall
    """


@hook.command("install")
@site_option
@friendly_errors
def hook_install(site) -> None:
    """Write the .pth hook into a site-packages folder.

    \b
    Example:
      vllm-patches hook install
      vllm-patches hook install --site /opt/venv/lib/python3.11/site-packages
    """
    from vllm_patches.runtime.hookfile import install

    state, changed = install(site)
    click.echo(messages.hook_installed(state.path) if changed
               else messages.hook_already_installed(state.path))
    if not state.read_at_startup:
        click.echo(messages.hook_not_read_at_startup(state.site))


@hook.command("uninstall")
@site_option
@friendly_errors
def hook_uninstall(site) -> None:
    """Remove the .pth hook from a site-packages folder.

    \b
    Example:
      vllm-patches hook uninstall
      vllm-patches hook uninstall --site /opt/venv/lib/python3.11/site-packages
    """
    from vllm_patches.runtime.hookfile import uninstall

    state, changed = uninstall(site)
    click.echo(messages.hook_removed(state.path) if changed
               else messages.hook_not_installed(state.site))


@hook.command("status")
@site_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@friendly_errors
def hook_status(site, as_json) -> None:
    """Say whether the .pth hook is installed, and whether it is active here.

    \b
    Example:
      vllm-patches hook status
      vllm-patches hook status --site /opt/venv/lib/python3.11/site-packages --json
    """
    from vllm_patches.runtime.hookfile import armed_here, status as hook_file_status

    state = hook_file_status(site)
    armed = armed_here()
    if as_json:
        emit_json({**state.to_dict(), "armed_by": list(armed)})
        return
    click.echo(messages.hook_status_installed(state.path, state.current) if state.installed
               else messages.hook_status_missing(state.site))
    click.echo(messages.hook_status_startup(state.read_at_startup))
    click.echo(messages.hook_status_active(armed))


@cli.command()
@target_options
@click.option("--tp", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Tensor-parallel size. With fewer GPUs than this, TP is emulated on one GPU.")
@click.option("--emulate-tp", is_flag=True,
              help="Emulate TP on one GPU even where there are GPUs enough for real ranks.")
@click.option("--scenario", type=click.Choice(["capture", "reload", "all"]), default="all",
              show_default=True,
              help="capture: graphs, then the engine's empty_cache and KV-cache allocation; "
              "reload: the same, then new weights and load_weights.")
@click.option("--control/--no-control", default=True, show_default=True,
              help="Also run the original code, to show that the bug is there.")
@click.option("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES), show_default=True,
              metavar="N,N,...",
              help="Batch sizes to compare: up to 64 they replay the smallest captured graph "
              "that fits (1, 2, 4, ... 64), above it vLLM's eager fallback runs.")
@click.option("--trials", type=click.IntRange(1, 10000), default=5, show_default=True,
              help="Random hidden states per size.")
@click.option("--vocab", type=click.IntRange(min=1), default=GEMMA4_ASSISTANT["vocab"],
              show_default=True, help="Vocabulary size (a multiple of the 2048 centroids).")
@click.option("--hidden", type=click.IntRange(min=1), default=GEMMA4_ASSISTANT["hidden"],
              show_default=True, help="Draft model hidden size.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the report as JSON to FILE.")
@click.option("--device", type=click.Choice(["cuda", "cpu"]), default="cuda", show_default=True,
              help="cpu: emulated CUDA graphs on the CPU (no GPU needed; proves the logic, "
              "not the CUDA crash).")
@click.option("--timeout", type=click.FloatRange(min=1), default=300.0, show_default=True,
              help="Seconds one arm process may take (per check, when checks share one).")
@click.option("--isolated", is_flag=True,
              help="With IDs: run each check in processes of its own. By default the CPU "
              "checks share one process per arm (vLLM is imported once; the patched one "
              "puts each fix in alone and takes it out again).")
@_release_option
@click.argument("ids", nargs=-1, metavar="[ID]...")
@catalog_option
@friendly_errors
def verify(target, vllm_version, tp, emulate_tp, scenario, control, sizes, trials, vocab,
           hidden, json_path, device, timeout, isolated, release, ids) -> None:
    """Prove the bug and the fix: unpatched code must fail, patched code must not.

    With IDs: run each patch's own behaviour check (its check.py) against the
    vLLM here (or --target DIR, or --release V) in two arms: control (vLLM as
    it is) must show the bug, patched (the fix put in by the plugin, as in
    production, that fix alone) must not. The CPU checks share one process
    per arm (--isolated: a process each). Exit 0 when every one PASSes or does not
    apply to this vLLM, 1 otherwise (FAIL, INCONCLUSIVE, or a check that
    needs a GPU there is not).

    Without IDs: the Gemma 4 MTP verification on this machine's GPUs. It runs
    vLLM's own Gemma 4 MTP code (Gemma4MTP, its masked embedder, and
    Gemma4Proposer's centroid CUDA graphs) at the Gemma 4 assistant's real
    sizes, with TP > 1, in two arms: patched (the catalogue applied as in
    production) and control (the original code). Each compares graph
    replay with eager get_top_tokens; the token ids must be identical.
    Exit 0 PASS, 1 FAIL, 2 cannot run here.

    \b
    Example:
      vllm-patches verify stop-string-earliest-match --release 0.26.0
      vllm-patches verify stop-string-earliest-match stop-token-ids-in-vocab --json v.json
      vllm-patches verify
      vllm-patches verify --scenario reload --json verify.json
      vllm-patches verify --target /srv/vllm-fork --tp 4 --trials 20
    """
    if ids:
        _verify_checks(ids, target, vllm_version, release, json_path, timeout, isolated)
        return
    if release:
        target = _source_install(None, vllm_version, release).location
    from vllm_patches.verify.gpu.run import CannotRun, Options, check_vocab, parse_sizes, render, verify as run
    from vllm_patches.verify.gpu.run import write_json

    try:
        size_list = parse_sizes(sizes)
        check_vocab(vocab)
    except ValueError as exc:
        raise Failure(str(exc)) from None
    options = Options(
        tp=tp, emulate_tp=emulate_tp,
        scenarios=("capture", "reload") if scenario == "all" else (scenario,),
        control=control, sizes=size_list, trials=trials, vocab=vocab, hidden=hidden,
        target=target, vllm_version=vllm_version, device=device, timeout=timeout,
    )
    try:
        report = run(options, echo=click.echo)
    except CannotRun as exc:
        raise Failure(str(exc)) from None
    if report["exit_code"] != EXIT_BAD_INPUT:
        click.echo("")
        for line in render(report):
            click.echo(line)
    if json_path:
        try:
            write_json(report, json_path)
        except OSError as exc:
            raise Failure(messages.verify_json_unwritable(json_path, exc)) from None
    if report["exit_code"] == EXIT_BAD_INPUT:
        raise Failure(report["summary"][0])
    sys.exit(report["exit_code"])


def _verify_checks(ids, target, vllm_version, release, json_path, timeout, isolated) -> None:
    from vllm_patches.core.catalog import select
    from vllm_patches.verify.gpu.run import write_json
    from vllm_patches.verify.checks import verify_checks

    patches = list(select(ids))
    install = _source_install(target, vllm_version, release)
    results = verify_checks(patches, install, from_target=bool(target or release),
                            timeout=timeout, echo=lambda line: click.echo(line, err=True),
                            isolated=isolated)
    report = {"vllm": install.to_dict(), "results": [r.to_dict() for r in results]}
    if json_path:
        try:
            write_json(report, json_path)
        except OSError as exc:
            raise Failure(messages.verify_json_unwritable(json_path, exc)) from None
    width = max(len(r.patch) for r in results)
    click.echo(f"vLLM {install.version or 'version unknown'} at {install.location}")
    for r in results:
        click.echo(f"  {r.patch.ljust(width)}  {str(r.verdict).ljust(12)}  {r.reason}")
    if not all(r.ok for r in results):
        sys.exit(EXIT_ATTENTION)


from vllm_patches.cli.catalog import catalog as _catalog_group  # noqa: E402  (after cli is defined)

cli.add_command(_catalog_group)
from vllm_patches.cli.audit import audit as _audit  # noqa: E402
cli.add_command(_audit)
from vllm_patches.cli.uninstall import uninstall as _uninstall  # noqa: E402
cli.add_command(_uninstall)


def main() -> None:
    """The console script: click's usage errors, too, become one sentence and exit 2; so
    does a standard output that cannot be written (a full disk), and a closed pipe
    (``| head``) ends it quietly with ``EXIT_BROKEN_PIPE``, as a killed writer would."""
    from vllm_patches.cli.output import OutputError, guard

    guard()
    try:
        code = _run()
        sys.stdout.flush()  # the last of the output, while its failure can still be said
    except OutputError as exc:
        code = _output_failed(exc)
    sys.exit(code)


def _run():
    """The command's exit code (an int, or what a ``sys.exit`` inside it was given)."""
    try:
        code = cli.main(prog_name="vllm-patches", standalone_mode=False)
    except click.UsageError as exc:
        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        click.echo(f"vllm-patches: {exc.format_message()}{hint}", err=True)
        return EXIT_BAD_INPUT
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("vllm-patches: interrupted.", err=True)
        return 130
    except SystemExit as exc:
        return exc.code
    except Exception as exc:
        return _internal_error(exc)
    return code if isinstance(code, int) else 0


DEBUG_ENV = "VLLM_PATCHES_DEBUG"


def _internal_error(exc: Exception) -> int:
    """An error no code of ours turned into a sentence (a bug, or a dependency whose new
    release changed what we use): one sentence, exit 2; the traceback with
    VLLM_PATCHES_DEBUG=1."""
    import os

    from vllm_patches.cli.output import OutputError

    if isinstance(exc, OutputError) or os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        raise exc
    click.echo(f"vllm-patches: {messages.internal_error(exc, DEBUG_ENV)}", err=True)
    return EXIT_BAD_INPUT


def _output_failed(exc) -> int:
    """The exit code of a command whose output could not be written (one sentence on
    stderr when that is where it failed not)."""
    from vllm_patches.cli.output import OutputError

    if exc.broken_pipe:  # the reader has gone: nothing to say, nobody to say it to
        return EXIT_BROKEN_PIPE
    if exc.stream == "stdout":
        try:
            click.echo(f"vllm-patches: {messages.output_unwritable(exc)}", err=True)
        except OutputError:
            pass
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    main()
