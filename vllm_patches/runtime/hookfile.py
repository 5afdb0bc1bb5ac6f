"""The opt-in ``.pth`` hook: auto-patching for Python processes that vLLM does not start.

Python runs the ``import`` lines of the ``.pth`` files in its site-packages
folders at start-up. The one this module writes imports only
``vllm_patches.runtime.plugin`` (which imports only ``importhook``) and calls
``register(via="pth")``: nothing else happens until a patched vLLM module is
imported. If vllm-patches is uninstalled and the file left behind, the line
does nothing. ``benchmarks/pth_startup.py`` measures what it costs.
"""

from __future__ import annotations

import site
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.files import write_atomic
from vllm_patches.runtime import messages

PTH_NAME = "vllm_patches_hook.pth"
_CODE = (
    "try:\n"
    " from vllm_patches.runtime.plugin import register\n"
    " register(via='pth')\n"
    "except Exception:\n"
    " pass\n"
)
PTH_TEXT = (
    "# vllm-patches: patch vLLM modules on import (remove with: vllm-patches hook uninstall)\n"
    f"import sys; exec({_CODE!r}, {{}})\n"
)


class HookError(VllmPatchesError):
    """The site folder is missing or cannot be written."""


@dataclass(frozen=True)
class HookFile:
    site: Path
    path: Path
    installed: bool
    current: bool  # the file holds exactly what this version writes
    read_at_startup: bool  # this interpreter reads .pth files from ``site``

    def to_dict(self) -> dict[str, object]:
        return {"site": str(self.site), "path": str(self.path), "installed": self.installed,
                "current": self.current, "read_at_startup": self.read_at_startup}


def default_site() -> Path:
    """The site-packages folder of the running interpreter (its environment's)."""
    return Path(sysconfig.get_paths()["purelib"])


def startup_sites() -> list[Path]:
    """The folders whose ``.pth`` files this interpreter reads at start-up."""
    folders = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    if site.ENABLE_USER_SITE:
        folders.append(site.getusersitepackages())
    return [Path(f).resolve() for f in folders]


def status(site_dir: Path | str | None = None) -> HookFile:
    folder = _checked_site(site_dir)
    path = folder / PTH_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = None
    except OSError:
        text = ""
    return HookFile(folder, path, text is not None, text == PTH_TEXT,
                    folder.resolve() in startup_sites())


def install(site_dir: Path | str | None = None) -> tuple[HookFile, bool]:
    """Write the ``.pth`` file; returns its state and whether anything changed."""
    before = status(site_dir)
    if before.current:
        return before, False
    try:
        write_atomic(before.path, PTH_TEXT, mode=0o644)
    except OSError as exc:
        raise HookError(messages.hook_write_failed(before.path, exc)) from None
    return status(site_dir), True


def uninstall(site_dir: Path | str | None = None) -> tuple[HookFile, bool]:
    """Remove the ``.pth`` file; returns its state and whether anything changed."""
    before = status(site_dir)
    if not before.installed:
        return before, False
    try:
        before.path.unlink()
    except FileNotFoundError:
        return status(site_dir), False
    except OSError as exc:
        raise HookError(messages.hook_remove_failed(before.path, exc)) from None
    return status(site_dir), True


def _checked_site(site_dir: Path | str | None) -> Path:
    folder = default_site() if site_dir is None else Path(site_dir).expanduser()
    if not folder.exists():
        raise HookError(messages.site_missing(folder))
    if not folder.is_dir():
        raise HookError(messages.site_not_folder(folder))
    return folder.absolute()


def armed_here() -> tuple[str, ...]:
    """Who armed auto-patching in this interpreter (without arming it)."""
    plugin = sys.modules.get("vllm_patches.runtime.plugin")
    return plugin.armed_by() if plugin is not None else ()
