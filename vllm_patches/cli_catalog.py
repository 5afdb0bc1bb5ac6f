"""``vllm-patches catalog ...``: write, fingerprint and check patch catalogues (yours and ours)."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group("catalog")
def catalog() -> None:
    """Write, fingerprint and check patch catalogues: ours, and your own.

    \b
    Example:
      vllm-patches catalog --help
      vllm-patches catalog check ~/my-patches
    """


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
    without DIR, the built-in catalogue. For each patch: its metadata loads;
    every fingerprint its seen tables record matches the real release files;
    the fix applies in source mode to each affected release and reverts byte
    for byte; on the first and last affected release it applies at run time
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
    from .catalog_check import check as run_check
    from .cli import EXIT_ATTENTION, emit_json, friendly_errors

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
    from .catalog_check import Result

    rows = report.sorted_rows()
    click.echo(f"Checked {len(report.patches)} patch(es) of "
               f"{', '.join(str(f) for f in report.folders)}: "
               + ", ".join(_counted(report.count(r), r) for r in Result))
    click.echo("")
    for patch_id in report.patches:
        mine = [r for r in rows if r.patch == patch_id]
        click.echo(f"  {patch_id}: " + "; ".join(_summary(step, [r for r in mine if r.step == step])
                                             for step in dict.fromkeys(r.step for r in mine)))
    shown = [r for r in rows if r.result != Result.OK]
    if not shown:
        return
    click.echo("")
    failed = [r for r in shown if r.result == Result.FAIL]
    click.echo("What failed, then the warnings and steps not run:" if failed
               else "Warnings and steps not run:")
    table = [("PATCH", "STEP", "RELEASE", "RESULT", "WHY")] + [
        (r.patch, str(r.step), r.release, str(r.result), r.why)
        for r in failed + [r for r in shown if r.result != Result.FAIL]]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])


def _summary(step, rows) -> str:
    from .catalog_check import Result

    counts = {r: sum(1 for row in rows if row.result == r) for r in Result}
    return f"{step} " + ", ".join(_counted(n, r) for r, n in counts.items() if n)


def _counted(n: int, result) -> str:
    from .catalog_check import Result

    word = {Result.FAIL: "failed", Result.WARNING: "warnings" if n != 1 else "warning"}
    return f"{n} {word.get(result, str(result))}"
