"""Where the catalogues live, and which vLLM modules their patches target, read cheaply.

Catalogues, in this order: the built-in one (inside the wheel, or ``patches/``
of a checkout); each package named by an entry point of the group
``vllm_patches.catalogs`` (the entry point's value names a package whose folder
holds patch folders, found without running its code); the folders of
``VLLM_PATCHES_CATALOG`` (an ``os.pathsep`` list; ``--catalog DIR`` on the
command line adds to it, so vLLM's processes started from there see it too).

The plugin arms its import hook from here when ``vllm`` is imported, so this
module imports no TOML parser, no ``packaging`` and no ``ast``: it reads the
``module = "vllm...."`` lines of each selected ``patch.toml``. Every file it reads
goes through ``read_catalog_file`` (plain file, bounded, never blocking), which the
checked catalogue uses too. Arming a module
that no patch really targets costs nothing (the full, checked catalogue decides
what to apply when the module is imported); missing one would leave a fix out,
so the line format is the one ``catalog`` itself checks.
"""

import os
import re

from vllm_patches.core.files import read_untrusted

# The vllm_patches package folder, and the folder that holds it (put on sys.path of the
# processes we start, so that they import this very copy).
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_PARENT = os.path.dirname(PACKAGE_DIR)
CATALOG_ENV = "VLLM_PATCHES_CATALOG"
ENTRY_POINT_GROUP = "vllm_patches.catalogs"
CATALOG_FILE_LIMIT = 1 << 20  # bytes: patch.toml, fix.py, entry_points.txt (the largest: 6 KiB)
_MODULE_LINE = re.compile(r'^[ \t]*module[ \t]*=[ \t]*"(vllm(?:\.[A-Za-z_][A-Za-z0-9_]*)+)"',
                          re.MULTILINE)


def read_catalog_file(path) -> str:
    """The text of a catalogue file (``patch.toml``, ``fix.py``, an ``entry_points.txt``):
    through ``read_untrusted``, so that a FIFO, a device, a symlink or a file past
    ``CATALOG_FILE_LIMIT`` planted there never blocks or exhausts a vLLM process.
    ``OSError`` (``files.untrusted_problem`` words it) or ``UnicodeDecodeError``."""
    return read_untrusted(path, limit=CATALOG_FILE_LIMIT).decode("utf-8")


def find_catalog_dir():
    """The catalogue folder (inside the wheel, or ``patches/`` of a checkout), or None."""
    for candidate in (os.path.join(PACKAGE_DIR, "_catalog"),
                      os.path.join(PACKAGE_PARENT, "patches")):
        if os.path.isdir(candidate):
            return candidate
    return None


def user_roots() -> tuple:
    """The user catalogues' folders (entry points, then ``VLLM_PATCHES_CATALOG``), as given."""
    roots = list(_entry_point_roots())
    raw = os.environ.get(CATALOG_ENV, "")
    roots += [part for part in raw.split(os.pathsep) if part.strip()]
    return tuple(dict.fromkeys(roots))


def roots() -> tuple:
    """Every catalogue folder: the built-in one first, then the users'."""
    builtin = find_catalog_dir()
    return tuple(dict.fromkeys(([builtin] if builtin else []) + list(user_roots())))


def _entry_point_roots() -> list:
    """The folders of the packages that ``vllm_patches.catalogs`` entry points name."""
    from importlib.machinery import PathFinder

    found = []
    for _name, value in sorted(entry_points(ENTRY_POINT_GROUP)):
        package = value.split(":", 1)[0].strip()
        try:
            spec = PathFinder.find_spec(package.split(".")[0])
            for part in package.split(".")[1:]:
                if spec is None or not spec.submodule_search_locations:
                    break
                spec = PathFinder.find_spec(f"{spec.name}.{part}", spec.submodule_search_locations)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.submodule_search_locations:
            found.append(list(spec.submodule_search_locations)[0])
    return found


def entry_points(group: str, folders=None) -> list:
    """``(name, value)`` of every entry point of ``group`` in the distributions installed in
    ``folders`` (default: ``sys.path``), read from their ``entry_points.txt`` files.

    importlib.metadata does the same but costs tens of milliseconds to import; this reads
    the files it would read, as the INI-style format the packaging spec defines.
    """
    import sys

    found = []
    seen = set()
    for folder in (sys.path if folders is None else folders):
        folder = folder or "."
        if folder in seen or not os.path.isdir(folder):
            continue
        seen.add(folder)
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                text = read_catalog_file(os.path.join(folder, name, "entry_points.txt"))
            except (OSError, UnicodeDecodeError):
                continue  # none, or not a file to read: another package's business
            found += parse_entry_points(text, group)
    return found


def parse_entry_points(text: str, group: str) -> list:
    """``(name, value)`` of the entries of section ``[group]`` of an entry_points.txt text."""
    entries, inside = [], False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            inside = line[1:-1].strip() == group
            continue
        if inside and "=" in line:
            name, value = line.split("=", 1)
            entries.append((name.strip(), value.strip()))
    return entries


def target_modules(selected=None, folders=None) -> tuple:
    """The modules the selected patches (all when ``selected`` is None) of every catalogue
    target, sorted."""
    found = set()
    for root in (roots() if folders is None else folders):
        try:
            entries = sorted(os.listdir(root))
        except OSError:
            continue
        for entry in entries:
            if selected is not None and entry not in selected:
                continue
            try:
                text = read_catalog_file(os.path.join(root, entry, "patch.toml"))
            except (OSError, UnicodeDecodeError):
                continue  # not a patch folder, or a bad one: the checked catalogue says so
            found.update(_MODULE_LINE.findall(text))
    return tuple(sorted(found))
