"""Whether vLLM processes in this environment patch themselves at start-up.

They do when this package's ``vllm.general_plugins`` entry point is installed
(``pip install vllm-patches`` puts it there), vLLM's ``VLLM_PLUGINS`` filter,
if set, lets it load (by vLLM's rule: ``vllm_loads``), and ``VLLM_PATCHES``
selects the patch (as the plugin reads it: ``plugin.read_selection``). ``status`` shows
it so that an operator sees at once whether the fix is live without a source
patch. Read from files and the environment only, without importlib.metadata
(too slow to import for ``status``) and without importing vLLM.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from vllm_patches.runtime import messages

ENTRY_POINT = "vllm_patches"  # its name in the group, what VLLM_PLUGINS lists


def vllm_loads(vllm_plugins: str | None, name: str = ENTRY_POINT) -> bool:
    """Whether vLLM loads the installed plugin ``name`` under this ``VLLM_PLUGINS`` value, by
    vLLM's own rule (``vllm/envs.py`` and ``load_plugins_by_group``, 0.17.0 to 0.33.0):
    unset, every plugin; set, the value split on commas, nothing stripped, and a plugin
    loads only when its name is one of the parts (``""`` loads none, and
    ``"other, vllm_patches"`` does not load ``vllm_patches``)."""
    return vllm_plugins is None or name in vllm_plugins.split(",")


@dataclass(frozen=True)
class AutoPatch:
    plugin_installed: bool
    vllm_plugins: str | None  # vLLM's own filter, when set
    selection: tuple[str, ...] | None  # VLLM_PATCHES: None for all, () for none
    selection_problem: str | None = None  # why a bad VLLM_PATCHES value selects nothing

    @property
    def plugin_loads(self) -> bool:
        return self.plugin_installed and vllm_loads(self.vllm_plugins)

    def covers(self, patch_id: str) -> bool:
        """True when vLLM processes here apply ``patch_id`` at start-up."""
        return self.plugin_loads and (self.selection is None or patch_id in self.selection)

    def next_step(self, patch_id: str) -> str:
        """What to do about an applicable patch that vLLM processes here do not apply yet."""
        write = f"vllm-patches apply {patch_id} (writes the fix into vLLM's files)"
        if not self.plugin_installed:
            return (f"{write}, or pip install vllm-patches into this environment so that "
                    "every vLLM process applies it at start-up")
        if not self.plugin_loads:
            return (f"{write}, or add vllm_patches to VLLM_PLUGINS "
                    f"(now {self.vllm_plugins!r}) so that vLLM loads the plugin"
                    f"{messages.vllm_plugins_hint(self.vllm_plugins or '')}")
        if self.selection_problem is not None:
            return f"{write}, or fix VLLM_PATCHES: {self.selection_problem}"
        return (f"{write}, or add {patch_id} to VLLM_PATCHES "
                f"(now {','.join(self.selection or ()) or 'none'!r}) so that the plugin applies it")

    def summary(self) -> str:
        if not self.plugin_installed:
            return messages.autopatch_no_plugin()
        if not self.plugin_loads:
            return messages.autopatch_filtered(self.vllm_plugins or "")
        if self.selection_problem is not None:
            return messages.autopatch_bad_selection(self.selection_problem)
        if self.selection == ():
            return messages.autopatch_disabled()
        return messages.autopatch_on(self.selection)

    def to_dict(self) -> dict[str, object]:
        return {
            "plugin_installed": self.plugin_installed,
            "plugin_loads": self.plugin_loads,
            "vllm_plugins": self.vllm_plugins,
            "selection": None if self.selection is None else list(self.selection),
            "selection_problem": self.selection_problem,
        }


def describe() -> AutoPatch:
    from vllm_patches.runtime.plugin import read_selection  # tiny: VLLM_PATCHES read as at run time

    return AutoPatch(_entry_point_installed(), os.environ.get("VLLM_PLUGINS"), *read_selection())


def _entry_point_installed(folders=None) -> bool:
    """Our dist-info with the entry point: beside the package, or on ``sys.path``."""
    from vllm_patches.core.catalog_files import (
        PACKAGE_PARENT,
        parse_entry_points,
        read_catalog_file,
    )

    if folders is None:
        folders = [Path(PACKAGE_PARENT), *(Path(p) for p in sys.path if p)]
    seen = set()
    for folder in map(Path, folders):
        if folder in seen or not folder.is_dir():
            continue
        seen.add(folder)
        for info in folder.glob("vllm_patches-*.dist-info"):
            try:
                text = read_catalog_file(info / "entry_points.txt")
            except (OSError, UnicodeDecodeError):
                continue
            if (ENTRY_POINT, "vllm_patches.runtime.plugin:register") in parse_entry_points(
                    text, "vllm.general_plugins"):
                return True
    return False
