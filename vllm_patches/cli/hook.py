"""``vllm-patches hook ...``: the opt-in .pth hook."""

from __future__ import annotations

import click

from vllm_patches.cli import messages
from vllm_patches.cli.common import emit_json, friendly_errors, site_option


@click.group()
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
