"""What every ``vllm-patches`` command shares: the options that mean one thing in each,
the error that becomes one sentence, JSON output and the exit codes.

Exit codes, for CI gates: 0 success; 1 the command ran and found something
that needs attention (``status --check``, a refused or failed patch); 2 bad
input, a tree that cannot be worked on, or an output that cannot be written
(``> /dev/full``), with one sentence on stderr; 141 quietly when the reader of
the output went away (``| head``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import click

from vllm_patches.cli import messages

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


def print_table(rows: Sequence[Sequence[str]], *, indent: str = "") -> None:
    """The one table printer: ``rows`` (the heading first) in columns two spaces apart. The
    last column is not padded, so a long reason or path runs on; no line ends in spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]
        click.echo((indent + "  ".join(cells)).rstrip())


def deprecated(old: str, new: str) -> None:
    """One line on stderr for a spelling that goes in the next release; the command runs as
    before and its exit code is unchanged, so a user's script keeps working meanwhile."""
    click.echo(f"vllm-patches: {messages.deprecated(old, new)}", err=True)


def emit_json(data: object) -> None:
    import json

    click.echo(json.dumps(data, indent=2, sort_keys=False))


def site_option(func):
    return click.option(
        "--site",
        type=click.Path(path_type=str),
        metavar="DIR",
        help="The site-packages folder to use (default: this Python's).",
    )(func)


def release_option(func):
    return click.option(
        "--release",
        metavar="VERSION",
        help="Work on the files of this vLLM release, fetched with pip into the user cache "
        "(read-only: for review, without installing it).",
    )(func)


def source_install(target, vllm_version, release=None, *, missing: str | None = None):
    """The tree a command works on: --target DIR, --release V (fetched), or the installed
    vLLM; ``missing`` (or the source mode's sentence) when there is none."""
    from vllm_patches.core.detect import find_vllm

    if target and release:
        raise Failure(messages.source_target_and_release())
    if release:
        from vllm_patches.cli.fetch import release_tree

        target = release_tree(release, compiled=True)
    install = find_vllm(target, vllm_version)
    if install is None:
        raise Failure(missing or messages.source_no_vllm())
    return install


def write_output(path: str, data: bytes) -> None:
    """Write an -o FILE; one sentence (exit 2) when it cannot be written, such as into a
    folder that does not exist."""
    from pathlib import Path

    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise Failure(messages.export_unwritable(path, exc)) from None
