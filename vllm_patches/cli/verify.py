"""``vllm-patches verify [ID]...``: each patch's own proof, its control against it patched."""

from __future__ import annotations

import json
import sys

import click

from vllm_patches.cli import messages
from vllm_patches.cli.common import (
    EXIT_ATTENTION,
    Failure,
    catalog_option,
    deprecated,
    friendly_errors,
    print_table,
    release_option,
    source_install,
    target_options,
)

JSON_FLAG = "\0stdout"  # --json given without a value: print the report
# The GPU run's options before its parameters moved into the Gemma 4 MTP checks: each
# still works for one release as --set NAME=VALUE (``_old_settings``).
OLD_VALUE_OPTIONS = ("tp", "scenario", "sizes", "trials", "vocab", "hidden", "device")


def _old_options(func):
    for name in reversed(OLD_VALUE_OPTIONS):
        func = click.option(f"--{name}", f"old_{name}", hidden=True)(func)
    func = click.option("--emulate-tp", "old_emulate_tp", is_flag=True, hidden=True)(func)
    return click.option("--control/--no-control", "old_control", default=None,
                        hidden=True)(func)


@click.command()
@click.argument("ids", nargs=-1, metavar="[ID]...")
@target_options
@release_option
@catalog_option
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="Give a check's parameter a value (repeatable); passed to each selected "
              "check that declares NAME (the Gemma 4 MTP checks: scenario, tp, emulate_tp, "
              "sizes, trials, vocab, hidden, device).")
@click.option("--isolated", is_flag=True,
              help="Run each check in processes of its own. By default the CPU checks share "
              "one process per arm (vLLM is imported once; the patched one puts each fix in "
              "alone and takes it out again).")
@click.option("--upstream-tests", "upstream", is_flag=True,
              help="Also run vLLM's own tests that each patch declares ([upstream-tests]), "
              "read from vLLM's sdists (fetched once into the user cache): upstream's "
              "regression test must fail unpatched and pass patched, and no test of the "
              "patched code that passes unpatched may fail patched. Offline, CPU.")
@click.option("--timeout", type=click.FloatRange(min=1), default=300.0, show_default=True,
              help="Seconds one arm process may take (per check, when checks share one).")
@click.option("--json", "json_arg", is_flag=False, flag_value=JSON_FLAG, default=None,
              metavar="", help="Print the report as JSON for machines.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the JSON report to FILE.")
@_old_options
@friendly_errors
def verify(ids, target, vllm_version, release, settings, isolated, upstream, timeout, json_arg,
           output, **old) -> None:
    """Prove each fix: vLLM as it is must show the bug, the fix put in must not.

    Runs each selected patch's own check (its check.py; every catalogued one
    when no ID is given) against the vLLM here (or --target DIR, or --release V)
    in two arms: control (vLLM as it is) must show the bug, patched (the fix put
    in by the plugin, as in production, that fix alone) must not. The CPU checks
    share one process per arm (--isolated: a process each); a GPU check (the
    Gemma 4 MTP pair: vLLM's centroid CUDA graphs with TP > 1, against eager)
    runs in processes of its own, each scenario apart.

    Verdicts: PASS; FAIL (the patched arm shows the bug or could not run);
    INCONCLUSIVE (the control does not show the bug here); NOT-RUN (the patch
    does not apply to this vLLM, has no check.py, or its check needs a GPU there
    is not: never a pass, never a failure).

    --upstream-tests adds vLLM's own tests of each patch (its [upstream-tests]),
    each in a control and a patched pytest process, offline, without vLLM's
    tests/conftest.py unless a test needs one of its fixtures: PASS when
    upstream's regression test fails unpatched and passes patched and no module
    test regressed.

    Exit 0 when nothing FAILs or is INCONCLUSIVE (NOT-RUN included: read the
    verdicts from --json where a proof must have run), 1 otherwise, 2 bad input.

    \b
    Example:
      vllm-patches verify stop-string-earliest-match --release 0.26.0
      vllm-patches verify stop-string-earliest-match --release 0.26.0 --upstream-tests
      vllm-patches verify
      vllm-patches verify gemma4-mtp-lm-head-reload --target /srv/vllm-fork \\
          --set tp=4 --set trials=20 -o verify.json
    """
    from vllm_patches.core.catalog import load_catalog, select
    from vllm_patches.verify.checks import BadSetting, check_file, settings_for, verify_checks

    ids, as_json, output = _json_grammar(ids, json_arg, output)
    patches = list(select(ids)) if ids else [
        p for p in load_catalog() if check_file(p) or (upstream and p.upstream_tests)]
    try:
        given = settings_for(patches, [*_old_settings(old), *settings])
    except BadSetting as exc:
        raise Failure(str(exc)) from None
    install = source_install(target, vllm_version, release)
    results = verify_checks(patches, install, from_target=bool(target or release),
                            timeout=timeout, echo=lambda line: click.echo(line, err=True),
                            isolated=isolated, settings=given)
    report = {"vllm": install.to_dict(), "results": [r.to_dict() for r in results]}
    upstream_results = []
    if upstream:
        from vllm_patches.verify.upstream import verify_upstream

        upstream_results = verify_upstream(patches, install, from_target=bool(target or release),
                                           timeout=timeout,
                                           echo=lambda line: click.echo(line, err=True))
        report["upstream_tests"] = [r.to_dict() for r in upstream_results]
    if output:
        _write(output, report)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _print(install, results)
        _print_upstream(upstream_results)
    if not all(r.ok for r in [*results, *upstream_results]):
        sys.exit(EXIT_ATTENTION)


def _json_grammar(ids, json_arg, output):
    """(ids, print JSON, file to write): ``--json`` is a flag; ``--json FILE``, the old
    spelling, still writes FILE for one release, with a notice. A catalogued ID right
    after ``--json`` is an ID."""
    if json_arg is None or json_arg == JSON_FLAG:
        return ids, json_arg is not None, output
    from vllm_patches.core.catalog import get_patch
    from vllm_patches.core.errors import VllmPatchesError

    try:
        get_patch(json_arg)
        return (json_arg, *ids), True, output
    except VllmPatchesError:
        pass
    deprecated(f"--json {json_arg}", f"-o {json_arg} (--json alone prints the JSON)")
    return ids, False, output or json_arg


def _old_settings(old: dict) -> list[str]:
    """--set values for the GPU run's old options, each with a one-line notice."""
    given = [(name, old[f"old_{name}"]) for name in OLD_VALUE_OPTIONS
             if old.get(f"old_{name}") is not None]
    if old.get("old_emulate_tp"):
        given.append(("emulate_tp", "true"))
    for name, value in given:
        old_spelling = "--emulate-tp" if name == "emulate_tp" else f"--{name} {value}"
        deprecated(old_spelling, f"--set {name}={value}")
    if old.get("old_control") is False:
        click.echo(f"vllm-patches: {messages.verify_no_control_ignored()}", err=True)
    return [f"{name}={value}" for name, value in given]


def _write(path: str, report: dict) -> None:
    from pathlib import Path

    try:
        Path(path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise Failure(messages.verify_json_unwritable(path, exc)) from None


def _print(install, results) -> None:
    click.echo(f"vLLM {install.version or 'version unknown'} at {install.location}")
    if results:
        print_table([(r.patch, str(r.verdict), r.reason) for r in results], indent="  ")


def _print_upstream(results) -> None:
    """One row per patch: its verdict, each part's counts per arm, and the tests that decide."""
    from vllm_patches.verify.upstream import Part

    if not results:
        return
    click.echo("\nvLLM's own tests (from its sdists), control -> patched:")
    rows = [(r.patch, str(r.verdict), _counts(r.part(Part.REGRESSION)),
             _counts(r.part(Part.MODULE))) for r in results]
    print_table([("PATCH", "VERDICT", "REGRESSION", "MODULE TESTS"), *rows], indent="  ")
    for result in results:
        click.echo(f"  {result.patch}: {result.reason}")


def _counts(part) -> str:
    if part is None:
        return "-"
    from vllm_patches.core.words import Arm

    def arm(name: str) -> str:
        counts = part.counts(name)
        shown = [f"{n} {o}" for o, n in counts.items() if n]
        return ", ".join(shown) or "none"

    return f"{part.release}: {arm(Arm.CONTROL)} -> {arm(Arm.PATCHED)}"
