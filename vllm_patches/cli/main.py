"""The ``vllm-patches`` command line: the group, its commands and the console script.

Each verb group is a module of its own (``status``, ``source``, ``export``, ``backport``,
``hook``, ``report``, ``catalog``, ``audit``, ``uninstall``); what they share is in
``common``. Exit codes are said there. Commands import torch and vLLM only where a patch
must run.
"""

from __future__ import annotations

import sys

import click

from vllm_patches.cli import messages
from vllm_patches.cli.common import (EXIT_ATTENTION, EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, Failure,
                                     catalog_option, friendly_errors, target_options)
# The names verify uses (helper "gpu" moves verify into cli/verify.py).
from vllm_patches.cli.common import release_option as _release_option
from vllm_patches.cli.common import source_install as _source_install
from vllm_patches._version import __version__
from vllm_patches.verify.gpu.defaults import DEFAULT_SIZES, GEMMA4_ASSISTANT


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


def _register() -> None:
    from vllm_patches.cli.audit import audit
    from vllm_patches.cli.backport import backport
    from vllm_patches.cli.catalog import catalog
    from vllm_patches.cli.export import export
    from vllm_patches.cli.hook import hook
    from vllm_patches.cli.report import report
    from vllm_patches.cli.source import apply, diff, revert
    from vllm_patches.cli.status import status
    from vllm_patches.cli.uninstall import uninstall

    for command in (status, report, backport, export, apply, revert, diff, hook, catalog, audit,
                    uninstall):
        cli.add_command(command)


_register()


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
