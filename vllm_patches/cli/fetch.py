"""A release's tree for a command, saying so on stderr while its wheel is fetched.

A wheel is 250-400 MB: ``diff --release``, ``catalog new --release`` and ``audit --from``
would otherwise sit silent for as long as pip takes.
"""

from __future__ import annotations

import click


def release_tree(release: str, *, compiled: bool = False):
    """``core.releases.release_tree``, with one progress line when it must download."""
    from packaging.version import InvalidVersion, Version

    from vllm_patches.core import releases

    try:
        Version(release)
    except InvalidVersion:
        return releases.release_tree(release)  # raises its one sentence
    if not releases.is_cached(release):
        click.echo(f"fetching the vLLM {release} wheel with pip (once, into "
                   f"{releases.cache_root() / 'releases'}) ...", err=True)
    return releases.release_tree(release, compiled=compiled)
