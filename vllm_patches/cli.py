"""The ``vllm-patches`` command line.

Exit codes, for CI gates: 0 success; 1 the command ran and found something
that needs attention (``status --check``, a refused or failed patch); 2 bad
input or a tree that cannot be worked on, with one sentence on stderr.
Commands import torch and vLLM only where a patch must run.
"""

from __future__ import annotations

import functools
import json
import sys

import click

from . import messages
from ._version import __version__
from .verify_arm import DEFAULT_SIZES, GEMMA4_ASSISTANT

EXIT_ATTENTION = 1
EXIT_BAD_INPUT = 2


class Failure(click.ClickException):
    """One clear sentence on stderr and exit code 2, never a traceback."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file=None) -> None:
        click.echo(f"vllm-patches: {self.message}", err=True)


def friendly_errors(func):
    """Turn the package's known errors into a Failure."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from .catalog import CatalogError
        from .detect import DetectError

        try:
            return func(*args, **kwargs)
        except (CatalogError, DetectError) as exc:
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
        type=click.Path(file_okay=False, path_type=str),
        metavar="DIR",
        help="Folder that holds the vllm/ package (a fork checkout or a site-packages) "
        "instead of the installed vLLM.",
    )(func)


def emit_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vllm-patches")
def cli() -> None:
    """Upstream vLLM fixes for the vLLM you run.

    \b
    Example:
      vllm-patches status
      vllm-patches status --target ~/src/vllm-fork --json
    """


@cli.command()
@target_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 when a patch is applicable but not applied, or blocked by a fork's change.",
)
@click.argument("ids", nargs=-1, metavar="[ID]...")
@friendly_errors
def status(target, vllm_version, as_json, check, ids) -> None:
    """Show the vLLM found and the state of each catalogued patch.

    States: applicable, applied, fixed-upstream, not-applicable, target-modified.

    \b
    Example:
      vllm-patches status
      vllm-patches status --target /srv/vllm-fork --json
      vllm-patches status --check    # exit 1 if a fix is still missing
    """
    from .catalog import select
    from .detect import find_vllm
    from .state import APPLICABLE, TARGET_MODIFIED, patch_status

    install = find_vllm(target, vllm_version)
    statuses = [patch_status(p, install) for p in select(ids)]
    if as_json:
        emit_json({
            "vllm": install.to_dict() if install else None,
            "patches": [s.to_dict() for s in statuses],
        })
    else:
        _print_status(install, statuses)
    if check and any(s.state in (APPLICABLE, TARGET_MODIFIED) for s in statuses):
        sys.exit(EXIT_ATTENTION)


def _print_status(install, statuses) -> None:
    if install is None:
        click.echo(messages.status_no_vllm())
    else:
        version = install.version or "version unknown (use --vllm-version)"
        extra = ", editable" if install.editable else ""
        click.echo(f"vLLM {version} at {install.location} ({install.version_from}{extra})")
    click.echo("")
    rows = [("PATCH", "STATE", "AFFECTED", "UPSTREAM")] + [
        (s.patch.id, s.state + (f" ({s.mode})" if s.mode else ""), s.patch.affected_text,
         s.patch.upstream_pr)
        for s in statuses
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
    for s in statuses:
        click.echo(f"\n{s.patch.id}: {s.reason}\n  next: {s.next_step}")


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
@click.option("--device", type=click.Choice(["cuda", "cpu"]), default="cuda", hidden=True,
              help="cpu: emulated CUDA graphs on the CPU, for this project's tests only.")
@click.option("--timeout", type=click.FloatRange(min=1), default=300.0, hidden=True,
              help="Seconds one arm process may take.")
@friendly_errors
def verify(target, vllm_version, tp, emulate_tp, scenario, control, sizes, trials, vocab,
           hidden, json_path, device, timeout) -> None:
    """Prove the bug and the fix on this machine's GPUs.

    Runs vLLM's own Gemma 4 MTP code (Gemma4MTP, its masked embedder, and
    Gemma4Proposer's centroid CUDA graphs) at the Gemma 4 assistant's real
    sizes, with TP > 1, in two arms: patched (the catalogue applied as in
    production) and control (the original code). Each compares graph
    replay with eager get_top_tokens; the token ids must be identical.
    Exit 0 PASS, 1 FAIL, 2 cannot run here.

    \b
    Example:
      vllm-patches verify
      vllm-patches verify --scenario reload --json verify.json
      vllm-patches verify --target /srv/vllm-fork --tp 4 --trials 20
    """
    from .verify import CannotRun, Options, check_vocab, parse_sizes, render, verify as run
    from .verify import write_json

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


def main() -> None:
    cli(prog_name="vllm-patches")


if __name__ == "__main__":
    main()
