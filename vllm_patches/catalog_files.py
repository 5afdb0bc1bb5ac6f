"""Where the catalogue lives, and which vLLM modules its patches target, read cheaply.

The plugin arms its import hook from here when ``vllm`` is imported, so this
module imports no TOML parser, no ``packaging`` and no ``ast``: it reads the
``module = "vllm...."`` lines of each selected ``patch.toml``. Arming a module
that no patch really targets costs nothing (the full, checked catalogue decides
what to apply when the module is imported); missing one would leave a fix out,
so the line format is the one ``catalog`` itself checks.
"""

import os
import re

_HERE = os.path.dirname(os.path.abspath(__file__))
_MODULE_LINE = re.compile(r'^[ \t]*module[ \t]*=[ \t]*"(vllm(?:\.[A-Za-z_][A-Za-z0-9_]*)+)"',
                          re.MULTILINE)


def find_catalog_dir():
    """The catalogue folder (inside the wheel, or ``patches/`` of a checkout), or None."""
    for candidate in (os.path.join(_HERE, "_catalog"),
                      os.path.join(os.path.dirname(_HERE), "patches")):
        if os.path.isdir(candidate):
            return candidate
    return None


def target_modules(selected=None, root=None) -> tuple:
    """The modules the selected patches (all when ``selected`` is None) target, sorted."""
    root = root or find_catalog_dir()
    if root is None:
        return ()
    found = set()
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return ()
    for entry in entries:
        if selected is not None and entry not in selected:
            continue
        try:
            with open(os.path.join(root, entry, "patch.toml"), encoding="utf-8") as fh:
                found.update(_MODULE_LINE.findall(fh.read()))
        except (OSError, UnicodeDecodeError):
            continue  # not a patch folder, or a bad one: the checked catalogue says so
    return tuple(sorted(found))
