"""Post-import hooks: run a function right after a named module is imported.

``when_imported(name, hook)`` calls ``hook(module)`` at once when ``name`` is
already imported, and otherwise right after its import finishes, in the
importing thread. It works through one small finder at the front of
``sys.meta_path``: for a watched name it asks the other finders for the spec
and wraps the spec's loader so that the hooks run after ``exec_module``;
every other import costs it one dictionary lookup.

This module is imported by the ``.pth`` hook at interpreter start-up, so it
imports nothing but built-in modules (not even ``__future__``). A hook runs
once: after it returned. If it raises, the import raises, and the hook stays
registered for a retry.
"""

import sys
from _thread import RLock

_LOCK = RLock()
_HOOKS: dict[str, list] = {}
_FINDER_MARK = "_vllm_patches_import_hooks"


def when_imported(name: str, hook) -> None:
    """Call ``hook(module)`` once ``name`` is imported (now, if it already is)."""
    with _LOCK:
        hooks = _HOOKS.setdefault(name, [])
        if hook not in hooks:
            hooks.append(hook)
        _install_finder()
        module = sys.modules.get(name)
    if module is not None and not _initializing(module):
        _fire(name, module)


def pending(name: str) -> tuple:
    """The hooks still waiting for ``name``."""
    with _LOCK:
        return tuple(_HOOKS.get(name, ()))


def _initializing(module) -> bool:
    """True while the module's own code is still running (it is mid-import)."""
    spec = getattr(module, "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def _fire(name: str, module) -> None:
    with _LOCK:
        hooks = list(_HOOKS.get(name, ()))
    for hook in hooks:
        hook(module)
        with _LOCK:
            waiting = _HOOKS.get(name)
            if waiting and hook in waiting:
                waiting.remove(hook)
                if not waiting:
                    del _HOOKS[name]


def _install_finder() -> None:
    if not any(getattr(f, _FINDER_MARK, False) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


class _Finder:
    """Finds nothing itself: wraps the loader that the other finders return."""

    _vllm_patches_import_hooks = True

    def find_spec(self, name, path=None, target=None):
        if name not in _HOOKS:
            return None
        for finder in list(sys.meta_path):
            if getattr(finder, _FINDER_MARK, False):
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is not None and hasattr(loader, "exec_module"):
            spec.loader = _HookedLoader(loader, name)
        return spec

    def invalidate_caches(self) -> None:
        pass


class _HookedLoader:
    """The real loader, plus the hooks after ``exec_module``.

    The module's ``__loader__`` and ``__spec__.loader`` are set back to the
    real loader before its code runs, so that nothing downstream sees this
    wrapper.
    """

    def __init__(self, loader, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec):
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module) -> None:
        if getattr(module, "__loader__", None) in (None, self):
            try:
                module.__loader__ = self._loader
            except AttributeError:
                pass
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self._loader
        self._loader.exec_module(module)
        _fire(self._name, sys.modules.get(self._name, module))

    def __getattr__(self, attr):
        return getattr(self._loader, attr)
