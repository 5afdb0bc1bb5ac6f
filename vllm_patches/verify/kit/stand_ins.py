"""Stand-ins for packages a vLLM module imports at load and a check never calls.

vLLM's front end and scheduler import the structured-output backends (llguidance,
xgrammar, outlines_core, lm-format-enforcer) and diskcache when their modules load, for
type hints and registries. A behaviour check that exercises another path (validation of a
prompt, the scheduler's bookkeeping) needs none of them, and this project's CPU test
environment does not install them (xgrammar pulls a compiler toolchain). A check.py calls
``stand_in_for_missing()`` before importing vLLM: every package of the list that is not
installed becomes an empty module whose every name is an inert class, found last on
``sys.meta_path`` (an installed package always wins). The runner (``check_arm``) adds the
ones a check asked for to its detail line, so a reader knows the backends were not real.

``model_config_stand_in()`` stands for a ``ModelConfig`` where vLLM's code reads only a
few plain fields of it (request validation), without the model folder a real one reads.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

BACKENDS = ("llguidance", "xgrammar", "outlines_core", "lmformatenforcer", "diskcache")


class StandInModule(types.ModuleType):
    """A module any of whose public names is a fresh placeholder class; while ``usable`` is
    False, making an instance of one raises (a check that must never reach the package).
    ``usable`` is read when an instance is made, so the last check to ask decides."""

    usable = True

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        module = self

        def new(cls, *args, **kwargs):
            if not module.usable:
                package = module.__name__.split(".")[0]
                raise RuntimeError(f"{package} is not installed here (check stand-in used)")
            return object.__new__(cls)

        value = type(attr, (), {"__module__": self.__name__, "__new__": new})
        setattr(self, attr, value)
        return value


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, names: frozenset[str], usable: bool) -> None:
        self.names = names
        self.usable = usable

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = StandInModule(spec.name)
        module.usable = self.usable
        module.__path__ = []
        return module

    def exec_module(self, module) -> None:
        pass


def stand_in_for_missing(names=BACKENDS, *, usable: bool = True) -> list[str]:
    """Put a stand-in in place for each package of ``names`` that is not installed; returns
    the names stood in for (none when all are installed), counting the ones an earlier
    check of this process stood in for. ``usable=False``: making an instance of anything
    from a stand-in raises RuntimeError (from now on, for the stand-ins already made too)."""
    finder = next((f for f in sys.meta_path if isinstance(f, _Finder)), None)
    ours = finder.names if finder is not None else frozenset()
    missing = [name for name in names if name not in ours
               and name not in sys.modules and importlib.util.find_spec(name) is None]
    if finder is None:
        finder = _Finder(frozenset(missing), usable)
        sys.meta_path.append(finder)  # last: the real one wins
    finder.names = finder.names | frozenset(missing)
    finder.usable = usable
    for module in list(sys.modules.values()):
        if isinstance(module, StandInModule):
            module.usable = usable
    used = [name for name in names if name in finder.names]
    _asked.update(used)
    return used


_asked: set[str] = set()  # stood in for at a check's request since the runner last asked


def asked_since_last() -> list[str]:
    """The packages ``stand_in_for_missing`` stood in for since the last call of this one
    (the runner asks after each check)."""
    names = sorted(_asked)
    _asked.clear()
    return names


def model_config_stand_in(vocab_size: int = 32000) -> types.SimpleNamespace:
    """The fields of a ModelConfig that request validation (``SamplingParams.verify``,
    ``InputProcessor._validate_params``) reads, as plain values."""
    return types.SimpleNamespace(max_logprobs=20, logits_processors=None, is_diffusion=False,
                                 get_vocab_size=lambda: vocab_size)
