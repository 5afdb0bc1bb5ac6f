"""``--metrics URL`` of ``status`` and ``report``: a vLLM server's patch state as its
``/metrics`` shows it.

The reading and the verdict are ``runtime.scrape``'s; this prints them: one row per patch
with the server's processes in each state, ``--json``, and exit 1 (the reason on stderr)
when ``--check`` finds no proof, or always when the page holds no ``vllm_patches_``
metric (nothing to show: no evidence). A URL that cannot be read is bad input (exit 2).
"""

from __future__ import annotations

import sys

import click

from vllm_patches.cli import messages
from vllm_patches.cli.common import EXIT_ATTENTION, emit_json, print_table


def metrics_option(func):
    """``--metrics URL``, the same in every command that reads a server's proof."""
    return click.option(
        "--metrics", "metrics_url", metavar="URL",
        help="Read a running vLLM server's /metrics (http://HOST:PORT[/metrics]) instead and "
        "show, per patch, how many of its processes run the fix. With --check: exit 1 unless "
        "every process is counted (PROMETHEUS_MULTIPROC_DIR) and each patch that applies to "
        "that server's vLLM is in place in every process that imported its target.",
    )(func)


def show_metrics(url: str, ids, as_json: bool, check: bool) -> None:
    """``--metrics URL [ID]... [--check] [--json]``."""
    from vllm_patches.core.catalog import get_patch
    from vllm_patches.runtime import scrape

    for patch_id in ids:
        get_patch(patch_id)  # an unknown id is bad input, as for status without --metrics
    server = scrape.read(url, ids)
    problem = scrape.check(server, ids)
    if as_json:
        emit_json({**server.to_dict(), "check": {"passed": problem is None, "problem": problem}})
    elif server.found:
        _print_server(server)
    if problem is not None and (check or not server.found):
        click.echo(f"vllm-patches: {problem}", err=True)
        sys.exit(EXIT_ATTENTION)


def _print_server(server) -> None:
    click.echo(messages.metrics_heading(server.url, server.armed, server.vllm,
                                        server.vllm_patches, server.multiprocess))
    if not server.patches:
        return
    click.echo("")
    print_table([("PATCH", "APPLIES", "IN PLACE", "NOT NEEDED", "NOT IN PLACE",
                  "TARGET NOT IMPORTED")] + [
        (p.id, "yes" if p.applies else "no", str(p.in_place), str(p.not_needed),
         _not_in_place(p.not_in_place), str(max(server.armed - p.judged, 0)))
        for p in sorted(server.patches.values(), key=lambda p: p.id)
    ])


def _not_in_place(outcomes: dict[str, int]) -> str:
    if not outcomes:
        return "0"
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
