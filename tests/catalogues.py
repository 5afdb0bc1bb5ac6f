"""Patch catalogues written in a test, as a user writes one: a patch folder per fix, over
vLLM's small pure functions (``vllm.utils.math_utils``) or any class of a real release, with
the fingerprints computed from the real release files."""

from __future__ import annotations

import json
from pathlib import Path

from vllm_patches.core.releases import release_tree
from vllm_patches.core.shape import class_prints
from vllm_patches.core.sourcefile import read_source

MATH = "vllm/utils/math_utils.py"  # vllm.utils.math_utils: small pure functions


def print_of(version: str, rel: str, name: str, class_name: str | None = None) -> str:
    """The fingerprint of a function in a real release's file."""
    text = read_source(release_tree(version) / rel).text
    return class_prints(text, class_name).methods[name]


def write_patch(catalogue: Path, patch_id: str, *, name: str, fix: str,
                pre_fix: list[str], fixed: list[str] = (), seen: dict | None = None,
                affected: str = ">=0.26.0,<0.27.0", fix_from: str | None = None,
                module: str = "vllm.utils.math_utils", class_name: str | None = None,
                adds: tuple[str, ...] = (), applied_upstream: str | None = None,
                fields: dict | None = None, upstream_tests: dict | None = None) -> Path:
    """One patch folder, written as a user writes one: a function of ``module``, or a method
    of its ``class_name`` (with the fix's own methods ``adds``); ``fields``: more top-level
    fields, as TOML values; ``upstream_tests``: its ``[upstream-tests]`` (by default one that
    says there is no upstream test; ``{}``: no such table)."""
    folder = catalogue / patch_id
    folder.mkdir(parents=True)
    if fix_from is None:
        (folder / "fix.py").write_text(fix)
    lines = [
        f'id = "{patch_id}"', f'title = "Test patch {patch_id}"',
        'why = "A bug the test plants."', 'how = "A fix the test writes."',
        'drop-when = "When the test is over."',
        'origin = "https://example.invalid/fix"', 'upstream-pr = "example/vllm#1"',
        'bug = "https://example.invalid/bug"', 'last-update = "2026-11-24"',
        f'affected = "{affected}"',
        f'fix-from = "{fix_from}"' if fix_from else 'fix = "fix.py"',
        *(f"{key} = {json.dumps(value)}" for key, value in (fields or {}).items()),
    ]
    if applied_upstream:
        lines.append(f'applied-upstream = "{applied_upstream}"')
    lines += ["", "[[targets]]", f'module = "{module}"']
    if class_name:
        lines += [f'class = "{class_name}"', f"adds = {json.dumps(list(adds))}"]
    lines += [
        "", "[[targets.wraps]]", f'name = "{name}"',
        f'kind = "{"method" if class_name else "function"}"',
        f"pre-fix = {json.dumps(list(pre_fix))}", f"fixed-upstream = {json.dumps(list(fixed))}",
    ]
    if seen:
        lines += ["", "[targets.wraps.seen]"]
        lines += [f'"{fp}" = {json.dumps(releases)}' for fp, releases in seen.items()]
    if upstream_tests is None:
        upstream_tests = {"none": "A patch the tests plant: upstream wrote no test for it."}
    if upstream_tests:
        lines += ["", "[upstream-tests]",
                  *(f"{key} = {json.dumps(value)}" for key, value in upstream_tests.items())]
    (folder / "patch.toml").write_text("\n".join(lines) + "\n")
    return folder
