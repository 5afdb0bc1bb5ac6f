"""``vllm-patches catalog ...``: write, fingerprint and check patch catalogues (yours and ours)."""

from __future__ import annotations

import click


@click.group("catalog")
def catalog() -> None:
    """Write, fingerprint and check patch catalogues: ours, and your own.

    \b
    Example:
      vllm-patches catalog --help
    """
