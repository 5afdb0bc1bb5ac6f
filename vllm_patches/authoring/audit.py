"""``vllm-patches audit``: what upgrading vLLM does to each catalogued patch, before installing.

For the vLLM you run (``--from``: the installed one, a ``--target`` tree, or a
release) and for each release you consider (``--to``), every catalogued patch
gets the verdict that ``status`` would give there: ``state.file_evidence`` read
from that tree's files, decided by ``state.judge`` (the one decision; release
trees come from ``releases.release_tree``, nothing is installed). ``advise``
then turns one patch's verdicts into one piece of advice:

- PORT: the code the fix wraps changed (``target-modified`` anywhere), or it is
  gone at a ``--to`` release where ``--from`` had the pre-fix code: the patch
  must be ported before the upgrade;
- KEEP: a ``--to`` release still has the pre-fix code: the patch stays;
- DROP: the patch is needed now and no ``--to`` release needs it (fixed upstream);
- NOTHING: needed neither now nor after.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from vllm_patches.core.catalog import Patch
from vllm_patches.core.detect import VllmInstall, find_vllm
from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.state import (
    APPLICABLE,
    APPLIED,
    FIXED_UPSTREAM,
    MISSING,
    MODIFIED,
    NO_MODULE,
    NOT_APPLICABLE,
    TARGET_MODIFIED,
    ShapeKind,
    State,
    file_evidence,
    judge,
)
from vllm_patches.core.words import Word


class AuditError(VllmPatchesError):
    """The audit's input is unusable (no vLLM to start from, a bad release name)."""


class Advice(Word):
    """What to do with one patch for the upgrade."""

    PORT = "port"
    KEEP = "keep"
    DROP = "drop"
    NOTHING = "nothing"


@dataclass(frozen=True)
class Reading:
    """What ``judge`` said about one patch in one tree, and the shape it read there."""

    label: str  # the vLLM version, or "tree" when it has none
    state: State
    shape: ShapeKind
    reason: str

    @property
    def needed(self) -> bool:
        """The pre-fix code is there (patched in this tree, or not yet)."""
        return self.state in (APPLICABLE, APPLIED)

    def to_dict(self) -> dict[str, str]:
        return {"vllm": self.label, "state": str(self.state), "shape": str(self.shape),
                "reason": self.reason}


@dataclass(frozen=True)
class PatchAudit:
    patch: Patch
    before: Reading
    after: tuple[Reading, ...]  # one per --to release, in their order
    advice: Advice
    why: str

    def to_dict(self) -> dict[str, object]:
        return {"id": self.patch.id, "affected": self.patch.affected_text,
                "from": self.before.to_dict(),
                "to": {v.label: v.to_dict() for v in self.after},
                "advice": str(self.advice), "why": self.why}


@dataclass(frozen=True)
class Audit:
    before: VllmInstall
    releases: tuple[str, ...]
    patches: tuple[PatchAudit, ...]

    @property
    def needs_port(self) -> bool:
        return any(p.advice == Advice.PORT for p in self.patches)

    def advisories_closed(self) -> dict[str, list[str]]:
        """--to release -> the security advisories an upgrade to it closes by itself: those of
        each patch the vLLM needs now that the release has upstream's fix for."""
        return {label: [a for p in self.patches if p.before.needed
                        and p.after[i].state == FIXED_UPSTREAM for a in p.patch.advisories]
                for i, label in enumerate(self.releases)}

    def advisories_kept(self) -> dict[str, list[str]]:
        """--to release -> the advisories still open there unless the patch stays."""
        return {label: [a for p in self.patches if p.after[i].needed
                        for a in p.patch.advisories]
                for i, label in enumerate(self.releases)}

    def to_dict(self) -> dict[str, object]:
        return {"from": self.before.to_dict(), "to": list(self.releases),
                "patches": [p.to_dict() for p in self.patches], "needs_port": self.needs_port,
                "advisories_closed": self.advisories_closed(),
                "advisories_needing_a_patch": self.advisories_kept()}


def verdict(patch: Patch, install: VllmInstall) -> Reading:
    """The verdict of ``status`` about ``patch`` for one tree's files."""
    evidence = file_evidence(patch, install)
    status = judge(patch, evidence, install.version, install.location)
    label = str(install.version) if install.version is not None else "tree"
    return Reading(label, status.state, evidence.shape.kind, status.reason)


def advise(before: Reading, after: Sequence[Reading]) -> tuple[Advice, str]:
    """The advice for one patch from its verdicts now and at each ``--to`` release, with
    the sentence that says why."""
    for v in (before, *after):
        if v.state == TARGET_MODIFIED:
            return Advice.PORT, _port_modified(v)
    if before.needed:
        for v in after:
            if v.state == NOT_APPLICABLE and v.shape in (MISSING, NO_MODULE, MODIFIED):
                return Advice.PORT, _port_moved(before, v)
    needed = [v.label for v in after if v.needed]
    if needed:
        return Advice.KEEP, _keep(needed, before)
    if before.needed:
        return Advice.DROP, _drop(after)
    return Advice.NOTHING, _nothing(before, after)


def audit(patches: Sequence[Patch], before: VllmInstall, releases: Sequence[str], *,
          progress: Callable[[str], None] = lambda line: None) -> Audit:
    """Judge ``patches`` in ``before`` and in each release tree (fetched on first use)."""
    from vllm_patches.core.releases import release_tree

    trees = []
    for version in releases:
        progress(reading_release(version))
        trees.append(find_vllm(release_tree(version)))
    results = []
    for patch in patches:
        now = verdict(patch, before)
        later = tuple(verdict(patch, tree) for tree in trees)
        advice, why = advise(now, later)
        results.append(PatchAudit(patch, now, later, advice, why))
    return Audit(before, tuple(releases), tuple(results))


def parse_releases(values: Sequence[str]) -> tuple[str, ...]:
    """The ``--to`` releases: comma lists, repeatable; sorted, each once. AuditError for a
    word that is not a version (before anything is fetched)."""
    found: dict[Version, str] = {}
    for value in values:
        for part in value.split(","):
            word = part.strip()
            if not word:
                continue
            try:
                found.setdefault(Version(word), word)
            except InvalidVersion:
                raise AuditError(_bad_release(word)) from None
    if not found:
        raise AuditError(_no_release())
    return tuple(found[v] for v in sorted(found))


# Messages ---------------------------------------------------------------------
def _port_modified(v: Reading) -> str:
    return f"port it: at {v.label} the code it wraps changed ({v.reason})"


def _port_moved(before: Reading, v: Reading) -> str:
    return (f"port it: {before.label} has the pre-fix code, but at {v.label} the code it wraps "
            f"moved or was rewritten ({v.reason})")


def _keep(needed: list[str], before: Reading) -> str:
    where, has = _join(needed), "has" if len(needed) == 1 else "have"
    if before.needed:
        return f"keep it: {where} still {has} the pre-fix code"
    return f"keep it: {where} {has} the pre-fix code ({before.label} does not need it yet)"


def _drop(after: Sequence[Reading]) -> str:
    fixed = [v.label for v in after if v.state == State.FIXED_UPSTREAM]
    if len(fixed) == len(after):
        ships = "ships" if len(fixed) == 1 else "ship"
        return f"drop it after the upgrade: {_join(fixed)} {ships} the fix upstream"
    does = "does" if len(after) == 1 else "do"
    return f"drop it after the upgrade: {_join([v.label for v in after])} {does} not need it"


def _nothing(before: Reading, after: Sequence[Reading]) -> str:
    return (f"nothing to do: needed neither at {before.label} nor at "
            f"{_join([v.label for v in after])}")


def _join(labels: Sequence[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def advisories_line(release: str, closed: list[str], kept: list[str]) -> str:
    closes = ", ".join(closed) if closed else "no advisory"
    still = f"; still needs a patch: {', '.join(kept)}" if kept else ""
    return f"Upgrading to {release} closes {closes}{still}."


def reading_release(version: str) -> str:
    return f"audit: reading vLLM {version} (fetched into the user cache on first use) ..."


def _bad_release(word: str) -> str:
    return f"--to {word!r} is not a vLLM release version (such as 0.30.0)."


def _no_release() -> str:
    return "--to names no release: give one or more, such as --to 0.30.0,0.31.0."


def no_starting_point() -> str:
    return ("no vLLM is installed here to audit from: name the release you run with "
            "--from VERSION, or its tree with --target DIR.")


def from_and_target() -> str:
    return "--from and --target both name the vLLM to start from: give one of them."
