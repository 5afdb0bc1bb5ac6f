"""Import vLLM's modules on a GPU machine that has only vLLM's Python files.

A GPU check runs vLLM's real code from the Python-only tree taken from the wheel
(``tools/gpu_bundle.py``: the compiled extensions are too big to carry) on a machine
that lacks some of vLLM's requirements. ``import_module(name, cpu_platform=True)``
imports one of vLLM's modules so:

- vLLM's ``CpuPlatform`` is made the current platform first (vLLM's CUDA platform
  imports the compiled extensions); the tensors still live on CUDA;
- a stand-in ``xgrammar`` where none can be imported (0.28.0 and later take its names
  at module load), and an empty module for each compiled extension imported at module
  load that the tree lacks;
- on CUDA, torch.cuda's stream functions kept and a side stream made current as vLLM
  does (0.29.0 and later capture their graphs on ``current_stream()``).

Imports torch only when a function runs.
"""

from __future__ import annotations

import types
from contextlib import contextmanager

from vllm_patches.verify import messages

# What importing vLLM 0.28.0 and later's model modules needs besides what the older
# releases need (the test extra): llguidance from 0.28.0 (a class annotation evaluated at
# import), fastapi and the rest from 0.30.0. tools/gpu_bundle.py carries them as wheels to
# the GPU machine; the CPU tests install them into a cached folder. xgrammar, also imported
# at module load from 0.28.0 on, is stood in for instead (too big to carry, never called
# by a check: see stand_in_for_xgrammar).
LATER_IMPORT_NEEDS = ("fastapi", "starlette", "annotated-doc", "partial-json-parser",
                      "llguidance", "opentelemetry-api")


def import_module(name: str, cpu_platform: bool = False) -> types.ModuleType:
    """Import vLLM's module ``name``; with ``cpu_platform``, as on a GPU box without vLLM's
    compiled extensions (see the module's docstring)."""
    import importlib

    stand_in_for_xgrammar()
    stand_in_for_compiled_extensions()
    with keep_torch_cuda_streams():
        if cpu_platform:
            use_cpu_platform()
        return importlib.import_module(name)


def use_cpu_platform() -> None:
    """Make vLLM's current platform its ``CpuPlatform`` (before the model modules load)."""
    import vllm.platforms as platforms
    from vllm.platforms.cpu import CpuPlatform

    if not isinstance(platforms._current_platform, CpuPlatform):
        platforms._current_platform = CpuPlatform()


# Importing vLLM 0.28.0 and later where its requirements are not all installed -------
XGRAMMAR = "xgrammar"
# The submodules that vLLM's modules import from at module load (0.28.0-0.33.0).
XGRAMMAR_SUBMODULES = ("structural_tag", "openai_tool_call_schema")


class XgrammarStandIn:
    """Every name taken from the ``xgrammar`` stand-in: a class whose instances keep what
    they were made with and do nothing (vLLM 0.33.0 makes one at module load)."""

    def __init__(self, *args, **kwargs) -> None:
        self.args = args
        self.kwargs = kwargs

    def __class_getitem__(cls, item):
        return cls


class _StandInModule(types.ModuleType):
    """A module any of whose public names is an ``XgrammarStandIn`` subclass."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        value = type(name, (XgrammarStandIn,), {"__module__": self.__name__})
        setattr(self, name, value)
        return value


def stand_in_for_xgrammar() -> bool:
    """Register a stand-in ``xgrammar`` where the real one cannot be imported; True if it
    is in place.

    Why: vLLM 0.28.0 and later import xgrammar, a compiled package that the GPU
    image lacks (and this project's CPU test environment too), at module load
    on the way to its model modules: ``vllm.parser``, ``vllm.tool_parsers`` and the
    structured-output backends take its classes for type hints, defaults and a
    module-level constant or two. Structured output never runs in a GPU check, so none of it is used: a module object (with the submodules
    imported at module load) whose every name is an inert class is enough.
    Where xgrammar is installed it is used as it is.
    """
    import importlib
    import importlib.machinery
    import sys

    if XGRAMMAR in sys.modules:
        return isinstance(sys.modules[XGRAMMAR], _StandInModule)
    try:
        importlib.import_module(XGRAMMAR)
        return False
    except ImportError:
        pass
    package = _StandInModule(XGRAMMAR, messages.xgrammar_stand_in_doc())
    package.__path__ = []
    package.__spec__ = importlib.machinery.ModuleSpec(XGRAMMAR, None, is_package=True)
    sys.modules[XGRAMMAR] = package
    for sub in XGRAMMAR_SUBMODULES:
        name = f"{XGRAMMAR}.{sub}"
        module = _StandInModule(name, messages.xgrammar_stand_in_doc())
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        sys.modules[name] = module
        setattr(package, sub, module)
    return True


# vLLM's compiled extensions that some releases import at module load (0.28.0's
# vllm/platforms/cuda.py imports _C_stable_libtorch at its top).
COMPILED_EXTENSIONS = ("_C_stable_libtorch",)


def stand_in_for_compiled_extensions() -> list[str]:
    """Register an empty module for each of vLLM's compiled extensions in
    ``COMPILED_EXTENSIONS`` that the tree lacks; returns their names.

    Why: the verification runs the Python-only tree taken from the wheel (the compiled
    extensions are too big to carry) with vLLM's CPU platform set, and calls none of
    their kernels; an import at module load is all that needs them. A tree that has the
    extension keeps it.
    """
    import importlib.util
    import sys
    from pathlib import Path

    spec = importlib.util.find_spec("vllm")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    placed = []
    for short in COMPILED_EXTENSIONS:
        name = f"vllm.{short}"
        if name in sys.modules or any(any(Path(f).glob(f"{short}*.so")) for f in folders):
            continue
        sys.modules[name] = types.ModuleType(name, messages.compiled_stand_in_doc())
        placed.append(name)
    return placed


# What vLLM's CPU worker replaces with placeholders (vllm/v1/worker/cpu/shm.py) and the
# verification needs real on CUDA: torch.cuda's stream functions.
STREAM_FUNCTIONS = ("Stream", "current_stream", "stream")


@contextmanager
def keep_torch_cuda_streams():
    """Around vLLM's imports: where CUDA is, put torch.cuda's stream functions back
    afterwards, and make a side stream current as vLLM does on CUDA.

    With vLLM's ``CpuPlatform`` forced, importing 0.33.0 can replace
    ``torch.cuda.Stream``, ``current_stream`` and ``stream`` with placeholders,
    and ``vllm.utils.torch_utils.current_stream()``, which the proposer captures
    its graphs on since 0.29.0, would hand out a placeholder stream.
    """
    import torch

    saved = {name: getattr(torch.cuda, name) for name in STREAM_FUNCTIONS}
    set_stream = torch.cuda.set_stream
    yield  # an import that failed is reported as it is, with nothing done here after it
    if torch.cuda.is_available():
        for name, value in saved.items():
            if getattr(torch.cuda, name) is not value:
                setattr(torch.cuda, name, value)
        use_side_stream(set_stream)


def use_side_stream(set_stream=None):
    """What vLLM's ``current_stream()`` does on CUDA on its first call: a new stream,
    ordered after the current one and made current, which it returns from then on (a
    graph cannot be captured on the default stream). Returns that stream, or None where
    the vLLM imported has no ``current_stream()`` or it already holds a real stream."""
    import sys

    import torch

    torch_utils = sys.modules.get("vllm.utils.torch_utils")
    tls = getattr(torch_utils, "_current_stream_tls", None)
    if tls is None or isinstance(getattr(tls, "value", None), torch.cuda.Stream):
        return None
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    (set_stream or torch.cuda.set_stream)(stream)
    tls.value = stream
    return stream
