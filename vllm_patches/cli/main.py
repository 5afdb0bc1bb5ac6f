"""The ``vllm-patches`` command line: the group, its commands and the console script.

Each verb group is a module of its own (``status``, ``source``, ``export``, ``backport``,
``hook``, ``report``, ``catalog``, ``audit``, ``uninstall``); what they share is in
``common``. Exit codes are said there. Commands import torch and vLLM only where a patch
must run.
"""

from __future__ import annotations

import sys

import click

from vllm_patches._version import __version__
from vllm_patches.cli import messages
from vllm_patches.cli.common import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE


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
    from vllm_patches.cli.verify import verify
    from vllm_patches.cli.vex import vex

    for command in (status, report, backport, export, apply, revert, diff, hook, catalog, audit,
                    uninstall, verify, vex):
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
