"""Two or more fixes on one function, in a declared order: a chain of layers.

A patch whose patch.toml says ``after = ["other-id"]`` composes with ``other-id``
wherever both wrap one function: both go in, ``other-id``'s fix inside, this one's
around it (``overlaps.Composition.ORDERED``). On a function ``f`` that patches P1, P2
(after P1) and P3 (after P2) wrap, every mode lays the chain out by the same names:

    _vllm_patches_orig_f         vLLM's own f (renamed, as for one patch)
    _vllm_patches_under_P2__f    P1's fix, which calls _vllm_patches_orig_f
    _vllm_patches_under_P3__f    P2's fix, which calls _vllm_patches_under_P2__f
    f                            P3's fix, which calls _vllm_patches_under_P3__f

The innermost fix runs as written; each fix over another has the name it calls
(``_vllm_patches_orig_f``) changed to the name of the one under it (``layered_source``).
A chain is always in declared order, whatever order the patches went in: the modes take
the fixes that belong over a patch off before it goes in or comes out, and put them back
after (``above``). So a chain of any subset of the patches is one text, one set of
functions, and ``revert`` of one leaves what applying only the others gives.

``seen_by`` is what makes the verdict right: it reads a function through the fixes of the
patches that compose with one, so that a function holding P1's fix is still P2's pre-fix
shape (``applicable``, not ``target-modified``), and P1 is still ``applied`` under P2.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Sequence

from vllm_patches.core.catalog import ORIGINAL_PREFIX, CatalogError, Patch, Target, Wrap
from vllm_patches.core.overlaps import Composition, composition, wrapped
from vllm_patches.core.shape import MethodPrints, class_prints

UNDER_PREFIX = "_vllm_patches_under_"


def under_name(patch_id: str, name: str) -> str:
    """The name of the fix under ``patch_id``'s in a chain on the function ``name``."""
    return f"{UNDER_PREFIX}{re.sub(r'[^A-Za-z0-9_]', '_', patch_id)}__{name}"


def layered_source(patch: Patch, names: Iterable[str]) -> str:
    """The fix's text with each function of ``names`` calling the fix under it
    (``under_name``) instead of vLLM's own (``_vllm_patches_orig_<name>``). Only that
    name changes, so lines and columns stay where they were in ``fix.py``."""
    return _layered(patch.id, patch.fix_source, tuple(sorted(set(names))))


@lru_cache(maxsize=64)
def _layered(patch_id: str, source: str, names: tuple[str, ...]) -> str:
    for name in names:
        source = re.sub(rf"\b{re.escape(ORIGINAL_PREFIX + name)}\b", under_name(patch_id, name),
                        source)
    return source


def _prints_of(patch: Patch, target: Target, name: str) -> frozenset[str]:
    """The fingerprints ``patch``'s fix of ``name`` has in a chain: as written (innermost),
    and calling the fix under it."""
    layered = layered_source(patch, (w.name for w in target.wraps))
    return frozenset({patch.fix_prints(target)[name],
                      class_prints(layered, target.class_name).methods[name]})


def known_patches() -> tuple[Patch, ...]:
    """Every patch of every catalogue that loads (a bad entry elsewhere costs only itself)."""
    from vllm_patches.core.catalog import load_catalog_report

    try:
        return load_catalog_report()[0]
    except CatalogError:
        return ()


def in_order(patches: Iterable[Patch]) -> list[Patch]:
    """``patches`` innermost first: each after every one of them its ``after`` names (ties
    by id; a cycle, which the catalogue refuses on load, ends in id order)."""
    left = sorted(patches, key=lambda p: p.id)
    ids = {p.id for p in left}
    placed: list[Patch] = []
    while left:
        done = {p.id for p in placed}
        ready = next((p for p in left if all(i in done or i not in ids for i in p.after)),
                     left[0])
        placed.append(ready)
        left.remove(ready)
    return placed


def chain(patch: Patch, target: Target, wrap: Wrap,
          known: Sequence[Patch] | None = None) -> list[Patch]:
    """The patches that compose with ``patch`` on ``target``'s function ``wrap`` (itself
    included; through others that compose, too), innermost first; ``[patch]`` alone when
    none does."""
    qualname = target.qualname(wrap.name)
    pool = {p.id: p for p in (known_patches() if known is None else known)
            if qualname in wrapped(p)}
    pool[patch.id] = patch
    members, todo = {patch.id}, [patch]
    while todo:
        a = todo.pop()
        for b in pool.values():
            if b.id not in members and composition(a, b) == Composition.ORDERED:
                members.add(b.id)
                todo.append(b)
    return in_order(pool[i] for i in members)


def partners(patch: Patch, known: Sequence[Patch] | None = None) -> set[str]:
    """The ids of the patches that compose with ``patch`` on any function it wraps."""
    known = known_patches() if known is None else known
    return {p.id for t in patch.targets for w in t.wraps for p in chain(patch, t, w, known)
            } - {patch.id}


def layer_names(patch: Patch, target: Target, known: Sequence[Patch] | None = None) -> set[str]:
    """Every name a chain through ``patch``'s functions of ``target`` may use."""
    known = known_patches() if known is None else known
    chains = [(w, chain(patch, target, w, known)) for w in target.wraps]
    return {under_name(p.id, w.name) for w, members in chains if len(members) > 1
            for p in members}


def layers(members: Sequence[Patch], target: Target, wrap: Wrap,
           methods: dict[str, str]) -> tuple[list[Patch], str | None]:
    """Which of ``members`` (one chain) wrap ``wrap`` in a scope whose functions have the
    fingerprints ``methods``, outermost first, and the name that holds vLLM's own function
    under them (None when the chain is broken or the function is not there)."""
    found: list[Patch] = []
    name = wrap.name
    while name in methods:
        member = next((p for p in members if all(p.id != f.id for f in found)
                       and methods[name] in _prints_of(p, target, wrap.name)), None)
        if member is None:
            return found, name
        found.append(member)
        under = under_name(member.id, wrap.name)
        name = under if under in methods else wrap.original_name
    return found, None


def seen_by(patch: Patch, target: Target, prints: MethodPrints,
            known: Sequence[Patch] | None = None) -> MethodPrints:
    """``prints`` of a scope as ``patch`` sees them: the fixes of the patches it composes
    with taken out of each chain, so that the shape reads as if ``patch`` were alone:
    its fix over vLLM's function where it is anywhere in the chain, vLLM's function alone
    where it is not."""
    moves: dict[str, str | None] = {}  # name as patch sees it -> name in prints (None: gone)
    mine: list[str] = []  # the names that hold patch's own fix, wherever it is in a chain
    for wrap in target.wraps:
        members = chain(patch, target, wrap, known)
        if len(members) == 1:
            continue
        found, base = layers(members, target, wrap, prints.methods)
        if not found:
            continue
        moves.update({under_name(p.id, wrap.name): None for p in members})
        ids = [p.id for p in found]
        if patch.id not in ids:
            moves.update({wrap.name: base, wrap.original_name: None})
            continue
        i = ids.index(patch.id)
        moves.update({wrap.name: wrap.name if i == 0 else under_name(ids[i - 1], wrap.name),
                      wrap.original_name: base})
        mine.append(wrap.name)
    if not moves:
        return prints
    seen = _moved(prints, moves)
    # Its fix reads as written, whether it calls vLLM's function or the fix under it.
    seen.methods.update({name: patch.fix_prints(target)[name] for name in mine})
    return seen


def _moved(prints: MethodPrints, moves: dict[str, str | None]) -> MethodPrints:
    def renamed(table: dict | None) -> dict | None:
        if table is None:
            return None
        out = {k: v for k, v in table.items() if k not in moves}
        out.update({new: table[old] for new, old in moves.items() if old in table})
        return out

    return MethodPrints(prints.class_found, renamed(prints.methods), renamed(prints.nodes),
                        renamed(prints.attributes))


def above(patch: Patch, present: Iterable[Patch],
          known: Sequence[Patch] | None = None) -> list[Patch]:
    """The patches of ``present`` whose fixes belong over ``patch``'s in a chain (and over
    those, on any function they share), innermost first: the ones to take off before
    ``patch`` goes in or comes out, and to put back on after, in this order."""
    known = known_patches() if known is None else known
    present = [p for p in present if p.id != patch.id]
    lifted: dict[str, Patch] = {}
    todo = [patch]
    while todo:
        below = todo.pop()
        for t in below.targets:
            for w in t.wraps:
                members = chain(below, t, w, [*known, *present, patch])
                ids = [p.id for p in members]
                for p in present:
                    if p.id in ids and ids.index(p.id) > ids.index(below.id) \
                            and p.id not in lifted:
                        lifted[p.id] = p
                        todo.append(p)
    return [p for p in in_order([*lifted.values(), patch]) if p.id != patch.id]
