"""CUDA graphs emulated on the CPU: for testing the verification where no GPU is.

A CUDA graph records kernels together with the addresses of their inputs and
outputs, and replays them on whatever those addresses hold then. This module
records the torch calls made inside ``torch.cuda.graph(g)`` together with the
tensors they read, and replays them into the same output tensors. Tensors made
during capture belong to the graph (as a CUDA graph's private pool does),
except views of tensors made before it, which are made again on each replay.
Tensors made before capture are held as a graph holds them, by their memory: a
weak reference to the storage, offset, shape and strides (a view or a
parameter that dies while its storage lives is still read). A replay that
needs a storage that was freed raises ``FreedTensorRead``, where a GPU would
read freed memory (an illegal memory access, or stale or foreign values).

``install()`` puts the emulation in place of ``torch.cuda.CUDAGraph``,
``torch.cuda.graph`` and ``torch.accelerator.synchronize``; ``uninstall()``
takes it out. Used only by ``vllm-patches verify --device cpu`` (tests).
"""

from __future__ import annotations

import contextlib

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.overrides import TorchFunctionMode


class FreedTensorRead(RuntimeError):
    """A replay needed a tensor that was freed after capture."""


class EmulatedGraph:
    """Stands in for ``torch.cuda.CUDAGraph``: ``replay()`` re-runs the recorded calls."""

    def __init__(self, *args, **kwargs) -> None:
        self._calls: list[tuple] = []
        self._owned: dict[int, torch.Tensor] = {}  # made during capture: kept, as a pool is
        self._slots: dict[int, int] = {}  # views of tensors made before: remade each replay
        self._capturing: list[torch.Tensor] = []  # keeps those views' ids stable while capturing

    def replay(self) -> None:
        views: dict[int, torch.Tensor] = {}
        for func, args, kwargs, outputs in self._calls:
            fresh = func(*self._resolve(args, views), **self._resolve(kwargs, views))
            for kept, new in zip(outputs, tensors_in(fresh), strict=True):
                if isinstance(kept, _Slot):
                    views[kept.index] = new
                elif not _same_memory(kept, new):
                    kept.copy_(new)

    # Recording -----------------------------------------------------------
    def _record(self, func, args, kwargs, out) -> None:
        outputs = []
        for tensor in tensors_in(out):
            base = tensor._base
            if base is not None and id(base) not in self._owned:
                slot = self._slots.setdefault(id(tensor), len(self._slots))
                self._capturing.append(tensor)
                outputs.append(_Slot(slot))
            else:
                self._owned[id(tensor)] = tensor
                outputs.append(tensor)
        self._calls.append((func, self._hold(args), self._hold(kwargs), outputs))

    def _end_capture(self) -> None:
        self._capturing.clear()

    def _hold(self, value):
        if isinstance(value, torch.Tensor):
            if id(value) in self._owned:
                return _Owned(value)
            if id(value) in self._slots:
                return _Slot(self._slots[id(value)])
            return _Borrowed(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self._hold(v) for v in value)
        if isinstance(value, dict):
            return {k: self._hold(v) for k, v in value.items()}
        return value

    def _resolve(self, value, views):
        if isinstance(value, _Owned):
            return value.tensor
        if isinstance(value, _Slot):
            return views[value.index]
        if isinstance(value, _Borrowed):
            return value.tensor()
        if isinstance(value, (list, tuple)):
            return type(value)(self._resolve(v, views) for v in value)
        if isinstance(value, dict):
            return {k: self._resolve(v, views) for k, v in value.items()}
        return value


class _Owned:
    __slots__ = ("tensor",)

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor


class _Slot:
    """A view of a tensor made before capture: remade on each replay, never kept."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class _Borrowed:
    """A tensor made before capture, held as a graph holds it: by its memory.

    Only a weak reference to its storage is kept, with its dtype, offset, shape
    and strides; a replay makes a tensor of that memory again, or fails when
    the storage was freed.
    """

    __slots__ = ("storage", "dtype", "offset", "shape", "stride")

    def __init__(self, tensor: torch.Tensor) -> None:
        self.storage = StorageWeakRef(tensor.untyped_storage())
        self.dtype = tensor.dtype
        self.offset = tensor.storage_offset()
        self.shape = tuple(tensor.shape)
        self.stride = tuple(tensor.stride())

    def tensor(self) -> torch.Tensor:
        if self.storage.expired():
            raise FreedTensorRead(
                f"graph replay read a freed tensor of shape {list(self.shape)} "
                "(emulated on the CPU; on a GPU this is an illegal memory access or stale data)"
            )
        storage = torch.UntypedStorage._new_with_weak_ptr(self.storage.cdata)
        empty = torch.empty(0, dtype=self.dtype, device=storage.device)
        return empty.set_(storage, self.offset, self.shape, self.stride)


class _Recorder(TorchFunctionMode):
    def __init__(self, graph: EmulatedGraph) -> None:
        super().__init__()
        self.graph = graph

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.graph._record(func, args, kwargs, out)
        return out


def tensors_in(value) -> list[torch.Tensor]:
    """The tensors in a value, a list, a tuple or a dict's values (nested), in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v)]
    return []


def _same_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride()


@contextlib.contextmanager
def graph(cuda_graph: EmulatedGraph, *args, **kwargs):
    """Stands in for ``torch.cuda.graph``: records the torch calls made inside."""
    try:
        with _Recorder(cuda_graph):
            yield cuda_graph
    finally:
        cuda_graph._end_capture()


def _synchronize(*args, **kwargs) -> None:
    return None


_SAVED: dict[tuple[object, str], object] = {}


def install() -> None:
    """Put the emulation in place of torch's CUDA graph API (idempotent)."""
    for owner, name, value in (
        (torch.cuda, "CUDAGraph", EmulatedGraph),
        (torch.cuda, "graph", graph),
        (torch.accelerator, "synchronize", _synchronize),
    ):
        _SAVED.setdefault((owner, name), getattr(owner, name))
        setattr(owner, name, value)


def uninstall() -> None:
    for (owner, name), value in _SAVED.items():
        setattr(owner, name, value)
    _SAVED.clear()
