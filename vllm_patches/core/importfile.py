"""Which file Python imports for a module of a vLLM tree, and the source that code is from.

Found as Python's path finder finds it, without importing anything: in each
package's folder a package folder with an ``__init__`` file wins, then
``name`` plus each suffix in the order of ``importlib.machinery``'s loaders:
an extension module (``.cpython-311-x86_64-linux-gnu.so``, ``.abi3.so``,
``.so``), source (``.py``), bytecode (``.pyc``). A ``.pyc`` beside the package's
files is imported without any source; one in ``__pycache__`` only stands for
its ``.py``, and Python trusts it without looking at the ``.py`` when it is an
unchecked hash-based ``.pyc`` (``compileall --invalidation-mode
unchecked-hash``). One departure: a folder or FIFO named like the ``.py``, which
Python passes over, is handed to the reader, which refuses it in one sentence (a tree
to repair). ``read_module_file`` reads the one text all of vllm-patches judges a vLLM
module by; it is None unless that text is the code Python runs::

    found = module_source(location, "vllm.v1.engine.detokenizer")
    found.kind       # SOURCE, BYTECODE, EXTENSION, UNCHECKED_CACHE or ABSENT
    found.path       # the file Python runs (the .pyc, for UNCHECKED_CACHE)
    found.text       # the module's source text, for SOURCE only
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.machinery import BYTECODE_SUFFIXES, EXTENSION_SUFFIXES, SOURCE_SUFFIXES
from pathlib import Path

from vllm_patches.core.words import Word

_PYC_HEADER = 16  # magic, flags, then a source hash (or the source's mtime and size)
_HASH_BASED, _CHECK_SOURCE = 0b01, 0b10  # the flags of a PEP 552 .pyc


class FileKind(Word):
    """What Python imports for a module."""

    SOURCE = "source"  # a .py file (compiled, or its matching cache in __pycache__)
    BYTECODE = "bytecode"  # a sourceless .pyc in the package's folder
    EXTENSION = "extension"  # a compiled extension module (.so), found before any .py
    UNCHECKED_CACHE = "unchecked-cache"  # a __pycache__ .pyc Python does not check, of other source
    ABSENT = "absent"  # nothing Python would import under that name


NOT_SOURCE = frozenset({FileKind.BYTECODE, FileKind.EXTENSION, FileKind.UNCHECKED_CACHE})


@dataclass(frozen=True)
class ModuleSource:
    """One module of a tree as Python imports it, with its source text when it runs that."""

    module: str
    kind: FileKind
    path: Path | None = None  # the file Python runs
    text: str | None = None  # the source text Python compiles; only for SOURCE

    @property
    def without_source(self) -> bool:
        """Python runs code for this module that no source file here shows."""
        return self.kind in NOT_SOURCE


def _suffixes() -> list[tuple[FileKind, str]]:
    """The suffixes the path finder tries, in its loaders' order."""
    return ([(FileKind.EXTENSION, s) for s in EXTENSION_SUFFIXES]
            + [(FileKind.SOURCE, s) for s in SOURCE_SUFFIXES]
            + [(FileKind.BYTECODE, s) for s in BYTECODE_SUFFIXES])


def _find_in(folder: Path, name: str) -> tuple[FileKind, Path, bool] | None:
    """What the path finder of ``folder`` finds for ``name``: (kind, file, a package?), a
    namespace package as (ABSENT, its folder, True), or None."""
    package = folder / name
    namespace = package.is_dir()
    if namespace:
        for kind, suffix in _suffixes():
            init = package / f"__init__{suffix}"
            if init.is_file():
                return kind, init, True
    for kind, suffix in _suffixes():
        path = folder / f"{name}{suffix}"
        if path.is_file() or (kind is FileKind.SOURCE and path.exists()):
            # A folder or a FIFO named like the .py, which Python would pass over, is
            # left to the reader to refuse in one sentence: a tree to repair, not no module.
            return kind, path, False
    return (FileKind.ABSENT, package, True) if namespace else None


def find_module_file(location: Path, module: str) -> tuple[FileKind, Path | None]:
    """The file Python imports for ``module`` from the tree at ``location`` (the folder
    that holds ``vllm/``), and its kind; ``(ABSENT, None)`` when there is none."""
    folder, parts = Path(location), module.split(".")
    for depth, name in enumerate(parts):
        found = _find_in(folder, name)
        if found is None:
            return FileKind.ABSENT, None
        kind, path, package = found
        if depth == len(parts) - 1:
            return (kind, path) if kind is not FileKind.ABSENT else (FileKind.ABSENT, None)
        if not package:  # a plain module holds no submodules
            return FileKind.ABSENT, None
        folder = path if kind is FileKind.ABSENT else path.parent
    return FileKind.ABSENT, None


def is_package(folder: Path, name: str) -> bool:
    """True when Python imports ``name`` from ``folder`` as a package with an ``__init__``
    (source, bytecode or an extension module)."""
    found = _find_in(Path(folder), name)
    return found is not None and found[2] and found[0] is not FileKind.ABSENT


def kind_of_file(path: Path) -> FileKind:
    """The kind of a module file by its name, as the loader that imported it sees it."""
    name = path.name
    for kind, suffix in _suffixes():
        if name.endswith(suffix):
            return kind
    return FileKind.SOURCE


def module_source(location: Path, module: str) -> ModuleSource:
    """``module`` of the tree at ``location``, read as Python would import it."""
    kind, path = find_module_file(location, module)
    return read_module_file(module, kind, path)


def read_module_file(module: str, kind: FileKind, path: Path | None) -> ModuleSource:
    """The source of the module file ``path`` that Python imports (``sourcefile.read_source``:
    SourceTextError, one sentence naming the file, when it cannot be read)."""
    if kind is not FileKind.SOURCE or path is None:
        return ModuleSource(module, kind, path)
    from vllm_patches.core.sourcefile import read_source

    try:
        source = read_source(path)
    except FileNotFoundError:
        return ModuleSource(module, FileKind.ABSENT)
    cache = unchecked_cache(path, source.raw)
    if cache is not None:
        return ModuleSource(module, FileKind.UNCHECKED_CACHE, cache)
    return ModuleSource(module, FileKind.SOURCE, path, source.text)


def unchecked_cache(path: Path, raw: bytes) -> Path | None:
    """The ``__pycache__`` file that Python runs for the source file ``path`` (whose bytes
    are ``raw``) without checking it against them, when it was compiled from other bytes;
    else None (Python compiles ``raw``, or uses a cache it checked against them)."""
    import _imp
    from importlib.util import MAGIC_NUMBER, cache_from_source, source_hash

    try:
        cache = Path(cache_from_source(str(path)))
        with cache.open("rb") as fh:
            header = fh.read(_PYC_HEADER)
    except (OSError, NotImplementedError, ValueError):
        return None
    if len(header) < _PYC_HEADER or header[:4] != MAGIC_NUMBER:
        return None  # not this Python's bytecode: it compiles the source again
    flags = int.from_bytes(header[4:8], "little")
    if not flags & _HASH_BASED:
        return None  # timestamp-based: Python checks the source's mtime and size
    checks = {"always": True, "never": False}.get(
        getattr(_imp, "check_hash_based_pycs", "default"), bool(flags & _CHECK_SOURCE))
    if checks or header[8:16] == source_hash(raw):
        return None
    return cache
