"""``catalog new``: a new patch folder, every field filled or marked TODO.

``new_patch(catalog, id, targets, pr=..., install=...)`` writes
``<catalog>/<id>/`` with

- ``patch.toml``: the metadata (from ``pr``: origin, upstream-pr and bug; the
  rest, why, how and drop-when among them, TODO), the targets with each wrap's
  ``kind``, and, when a vLLM tree is given and has the target, its ``pre-fix``
  fingerprint (and the release it was seen in), so that the patch loads at once;
- ``fix.py``: a pure wrapper per target (``wrapper_source``), with vLLM's
  signature when a tree is given;
- ``check.py``: a behaviour check skeleton whose ``run()`` raises
  NotImplementedError until it is written, so ``verify`` cannot pass it.

A target is ``vllm.module:Class.method`` or ``vllm.module:function``. Bad
input (an id or folder that exists, a bad id, a malformed target) is a
``ScaffoldError`` raised before anything is written; the folder appears whole
or not at all (written beside, then renamed into place).
"""

from __future__ import annotations

import ast
import datetime
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from vllm_patches.core.catalog import (PROSE, TODO, CatalogError, Kind, _IDENTIFIER, _MODULE,
                                       Stage, dotted, load_catalog_report, fingerprint_command,
                                       load_patch, read_patch)
from vllm_patches.core.detect import VllmInstall
from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.authoring.patch_toml import APPLIED_UPSTREAM_TODO
from vllm_patches.core.shape import class_prints
from vllm_patches.core.sourcefile import SourceTextError
from vllm_patches.authoring.wrapper_source import Wrapper, module_names, wrapper, WIDTH

ID_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_PR = re.compile(r"(?:https?://github\.com/vllm-project/vllm/pull/|vllm-project/vllm#|#)?"
                 r"(\d+)/?")
_WRAPPABLE = "a method, classmethod, staticmethod, property or module-level function"


class ScaffoldError(VllmPatchesError):
    """``catalog new`` was given bad input; nothing was written."""


@dataclass(frozen=True)
class TargetSpec:
    """One ``--function``: a vLLM module, a class of it (or None), and the name to wrap."""

    module: str
    class_name: str | None
    name: str

    @property
    def text(self) -> str:
        return f"{self.module}:{self.label}"

    @property
    def label(self) -> str:
        return dotted(self.class_name, self.name)


def parse_target(text: str) -> TargetSpec:
    """``vllm.module:Class.method`` or ``vllm.module:function``; ScaffoldError otherwise."""
    module, colon, rest = text.strip().partition(":")
    parts = rest.split(".")
    if not colon or not _MODULE.fullmatch(module) or not 1 <= len(parts) <= 2 or not all(
            _IDENTIFIER.fullmatch(p) for p in parts):
        raise ScaffoldError(_bad_target(text))
    if parts[-1].startswith("_vllm_patches_"):
        raise ScaffoldError(_ours(text))
    return TargetSpec(module, parts[0] if len(parts) == 2 else None, parts[-1])


def parse_pr(raw: str) -> int:
    """The number of a vLLM pull request: ``49391``, ``#49391``, ``vllm-project/vllm#49391``
    or its GitHub URL."""
    found = _PR.fullmatch(raw.strip())
    if not found or int(found.group(1)) == 0:
        raise ScaffoldError(_bad_pr(raw))
    return int(found.group(1))


@dataclass(frozen=True)
class Found:
    """What the vLLM tree given says about one target (all None without a tree)."""

    spec: TargetSpec
    kind: Kind
    node: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    fingerprint: str | None = None
    absent: str | None = None  # why the tree does not show it
    module_names: frozenset[str] = frozenset()


@dataclass
class NewPatch:
    """What ``new_patch`` wrote."""

    id: str
    folder: Path
    version: str | None  # of the tree the shapes were read from
    found: list[Found]
    loads: bool
    load_message: str
    notes: list[str] = field(default_factory=list)

    @property
    def todo(self) -> list[str]:
        """The targets whose pre-fix fingerprint is still to be taken."""
        return [f.spec.text for f in self.found if f.fingerprint is None]

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id, "folder": str(self.folder),
            "files": ["patch.toml", "fix.py", "check.py"],
            "vllm": self.version,
            "targets": [{"target": f.spec.text, "kind": str(f.kind), "pre_fix": f.fingerprint,
                         "absent": f.absent} for f in self.found],
            "loads": self.loads, "load_message": self.load_message, "notes": self.notes,
        }


def new_patch(catalog: Path | str, patch_id: str, targets: list[str], *, pr: str | None = None,
              install: VllmInstall | None = None, today: datetime.date | None = None
              ) -> NewPatch:
    """Write ``<catalog>/<patch_id>/`` (see the module's docstring)."""
    catalog = Path(catalog).expanduser().resolve()
    specs, number = check_request(catalog, patch_id, targets, pr)
    found = [_find(spec, install) for spec in specs]
    version = str(install.version) if install is not None and install.version else None
    fix_text = _fix_py(patch_id, number, found)
    files = {
        "patch.toml": _patch_toml(patch_id, number, found, version, catalog,
                                  today or datetime.date.today()),
        "fix.py": fix_text,
        "check.py": _check_py(patch_id, found),
    }
    folder = _write_folder(catalog, patch_id, files)
    try:
        load_patch(folder)
        loads, message = True, ""
    except CatalogError as exc:
        loads, message = False, str(exc)
    notes = [f"{f.spec.text}: {f.absent}" for f in found if f.absent]
    notes += [f"{f.spec.text}: {n}" for f in found
              for n in (_wrapper_of(patch_id, f).notes if f.node is not None else ())]
    return NewPatch(patch_id, folder, version, found, loads, message, notes)


def check_request(catalog: Path | str, patch_id: str, targets: list[str], pr: str | None
                  ) -> tuple[list[TargetSpec], int | None]:
    """The targets and PR number of a ``new_patch`` call; ScaffoldError for bad input (so a
    caller can check before it fetches a release)."""
    catalog = Path(catalog).expanduser().resolve()
    if not ID_PATTERN.fullmatch(patch_id):
        raise ScaffoldError(_bad_id(patch_id))
    if not targets:
        raise ScaffoldError(_no_target())
    specs = [parse_target(t) for t in targets]
    _check_distinct(specs)
    number = parse_pr(pr) if pr is not None else None
    _check_free(catalog, patch_id)
    return specs, number


def _check_distinct(specs: list[TargetSpec]) -> None:
    """fix.py has one class per name and one module scope: two targets must not meet there."""
    seen: dict[tuple[str | None, str], TargetSpec] = {}
    for spec in specs:
        key = (spec.class_name, spec.name)
        if key in seen:
            raise ScaffoldError(_twice(seen[key], spec))
        seen[key] = spec
    classes = {s.class_name for s in specs if s.class_name}
    clash = sorted(classes & {s.name for s in specs if s.class_name is None})
    if clash:
        raise ScaffoldError(_class_and_function(clash[0]))


def _check_free(catalog: Path, patch_id: str) -> None:
    if catalog.exists() and not catalog.is_dir():
        raise ScaffoldError(_catalog_not_a_folder(catalog))
    if not catalog.exists() and not catalog.parent.is_dir():
        raise ScaffoldError(_catalog_parent_missing(catalog))
    folder = catalog / patch_id
    if os.path.lexists(folder):
        raise ScaffoldError(_folder_exists(folder))
    patches, problems = load_catalog_report()
    taken = {p.id: p.folder for p in patches}
    taken.update({p.id: p.folder for p in problems})
    if patch_id in taken:
        raise ScaffoldError(_id_exists(patch_id, taken[patch_id]))


def _find(spec: TargetSpec, install: VllmInstall | None) -> Found:
    """vLLM's definition of one target in the tree given (its kind, node and shape)."""
    default = Kind.FUNCTION if spec.class_name is None else Kind.METHOD
    if install is None:
        return Found(spec, default)
    try:
        text = install.read_module(spec.module)
    except SourceTextError as exc:
        return Found(spec, default, absent=f"cannot be read ({exc})")
    where = _where(install)
    if text is None:
        return Found(spec, default, absent=f"{where} has no module {spec.module}")
    try:
        tree = ast.parse(text)
        prints = class_prints(text, spec.class_name)
    except (SyntaxError, ValueError) as exc:
        return Found(spec, default, absent=f"{spec.module} in {where} cannot be parsed by "
                                           f"this Python ({exc})")
    if not prints.class_found:
        return Found(spec, default, absent=f"{where} has no class {spec.class_name} in "
                                           f"{spec.module}")
    node = prints.nodes.get(spec.name)
    if node is None:
        return Found(spec, default, absent=_absent_name(spec, tree, where))
    _check_wrappable(spec, node)
    return Found(spec, Kind.of(node, spec.class_name is not None), node,
                 prints.methods[spec.name], module_names=frozenset(module_names(tree)))


def _where(install: VllmInstall) -> str:
    return f"vLLM {install.version}" if install.version else f"the vLLM at {install.location}"


def _absent_name(spec: TargetSpec, tree: ast.Module, where: str) -> str:
    scope = f"class {spec.class_name}" if spec.class_name else spec.module
    if spec.class_name is None and any(isinstance(n, ast.ClassDef) and n.name == spec.name
                                       for n in tree.body):
        return (f"{spec.name} is a class of {spec.module} in {where}: name one of its methods "
                f"({spec.module}:{spec.name}.METHOD)")
    return f"{where} has no function {spec.name} in {scope}"


def _check_wrappable(spec: TargetSpec, node) -> None:
    """Refuse what a wrapper of the catalogue cannot stand in for."""
    for d in node.decorator_list:
        name = d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", None)
        if isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter"):
            raise ScaffoldError(_unwrappable(spec, f"a property {d.attr}"))
        if name == "cached_property":
            raise ScaffoldError(_unwrappable(spec, "a cached_property"))


# The files --------------------------------------------------------------------------
def _toml(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def _groups(found: list[Found]) -> dict[tuple[str, str | None], list[Found]]:
    groups: dict[tuple[str, str | None], list[Found]] = {}
    for f in found:
        groups.setdefault((f.spec.module, f.spec.class_name), []).append(f)
    return groups


def _patch_toml(patch_id: str, number: int | None, found: list[Found], version: str | None,
                catalog: Path, today: datetime.date) -> str:
    command = fingerprint_command(catalog / patch_id / "patch.toml")
    if number is not None:
        url = f"https://github.com/vllm-project/vllm/pull/{number}"
        origin, upstream = _toml(url), _toml(f"vllm-project/vllm#{number}")
        bug = f"{_toml(url)}  # TODO: the issue that reports the bug, if there is one"
    else:
        origin = _toml("TODO: the URL of the upstream fix (a vLLM pull request or commit)")
        upstream = _toml("TODO: vllm-project/vllm#NUMBER")
        bug = _toml("TODO: the URL of the issue or pull request that shows the bug")
    every = all(f.fingerprint is not None for f in found)
    if every and version is not None:
        affected = f"{_toml('==' + version)}  # TODO: {command}"
    else:
        affected = _toml(f"TODO: run {command}")
    lines = [
        "# One catalogued fix. Fields follow DEP-3 where DEP-3 has one.",
        f"# Written by vllm-patches catalog new on {today.isoformat()}: replace every TODO.",
        f"id = {_toml(patch_id)}",
        f"title = {_toml('TODO: what the fix does, in one line')}",
        *_prose_placeholders(),
        f"origin = {origin}",
        f"upstream-pr = {upstream}",
        f"bug = {bug}",
        APPLIED_UPSTREAM_TODO,
        f"last-update = {_toml(today.isoformat())}",
        f"affected = {affected}",
        'fix = "fix.py"',
    ]
    for (module, class_name), members in _groups(found).items():
        lines += ["", "[[targets]]", f"module = {_toml(module)}"]
        if class_name is not None:
            lines.append(f"class = {_toml(class_name)}")
        for f in members:
            lines += ["", "[[targets.wraps]]", f"name = {_toml(f.spec.name)}",
                      f"kind = {_toml(str(f.kind))}"]
            if f.fingerprint is None:
                lines.append(f"pre-fix = []  # TODO: {command}")
                continue
            lines.append(f"pre-fix = [{_toml(f.fingerprint)}]  # "
                         f"{version or 'the tree given to catalog new'}")
            if version is not None:
                lines += ["", "[targets.wraps.seen]", f"{f.fingerprint} = [{_toml(version)}]"]
    return "\n".join(lines) + "\n"


def _prose_placeholders() -> list[str]:
    """why, how and drop-when, each a TODO saying what to write (catalog check fails on a
    TODO; docs/patch-format.md says more)."""
    return [f"{key} = {_toml(f'{TODO}: {meaning}')}" for key, meaning in PROSE.items()]


def _wrapper_of(patch_id: str, f: Found) -> Wrapper:
    return wrapper(f.spec.name, f.kind, f.spec.class_name, patch_id, f.node)


def _fix_py(patch_id: str, number: int | None, found: list[Found]) -> str:
    upstream = f"vllm-project/vllm#{number}" if number else "TODO: the upstream fix"
    out = [
        f'"""vllm-patches fix {patch_id} ({upstream}): TODO say what it changes.',
        "",
        "Written by ``vllm-patches catalog new`` as pure wrappers: each function below has the",
        "name of the vLLM function it wraps and calls vLLM's own one, which stays as",
        "``_vllm_patches_orig_<name>``, unchanged. Put the fix in. Runtime mode binds these",
        "functions to the globals of their vLLM module; source mode writes their text into it;",
        "either way names resolve in vLLM's module, as in vLLM's own code.",
        '"""',
        "",
        "# ruff: noqa: F821  (names resolve in vLLM's module, see above)",
        "from __future__ import annotations",
    ]
    imports = _default_imports(patch_id, found)
    if imports:
        out += [""] + imports
    classes: dict[str, list[Found]] = {}
    functions: list[Found] = []
    for f in found:
        if f.spec.class_name is None:
            functions.append(f)
        else:
            classes.setdefault(f.spec.class_name, []).append(f)
    for class_name, members in classes.items():
        out += ["", "", f"class {class_name}:"]
        for i, f in enumerate(members):
            if i:
                out.append("")
            out.append(_wrapper_of(patch_id, f).text.rstrip("\n"))
    for f in functions:
        out += ["", "", _wrapper_of(patch_id, f).text.rstrip("\n")]
    return "\n".join(out) + "\n"


def _default_imports(patch_id: str, found: list[Found]) -> list[str]:
    """Imports of the names vLLM's default values read: runtime mode defines the fix
    outside vLLM's module (source mode writes it inside, where they are defined anyway)."""
    lines = []
    for f in found:
        if f.node is None:
            continue
        names = _wrapper_of(patch_id, f).default_names
        known = [n for n in names if n in f.module_names]
        unknown = [n for n in names if n not in f.module_names]
        if known:
            lines.append(f"# Read by the default values of {f.spec.label}:")
            lines += _joined(f"from {f.spec.module} import ", known, "")
        if unknown:
            lines.append(f"# TODO({patch_id}): the default values of {f.spec.label} read "
                         f"{', '.join(unknown)}, not a name of {f.spec.module}: define it here.")
    return lines


def _joined(head: str, names: list[str], tail: str) -> list[str]:
    one = head + ", ".join(names) + tail
    if len(one) <= WIDTH:
        return [one]
    return [head + "("] + [f"    {n}," for n in names] + [")" + tail]


def _check_py(patch_id: str, found: list[Found]) -> str:
    module = found[0].spec.module
    package, _, leaf = module.rpartition(".")
    call = found[0].spec.label
    return f'''"""Behaviour check of {patch_id}: TODO say what it exercises.

``run()`` is called in a process whose ``vllm`` is the tree under test, patched
or not, as ``vllm-patches verify {patch_id}`` arranged, and says whether the bug
shows: the control (vLLM as it is) must show it, the patched process must not.
The check kit (``vllm_patches.verify.kit``) has the rest: a tiny model folder,
stand-ins for backends never called, whether a call accepts or rejects its input.
patches/stop-string-earliest-match/check.py of vllm-patches is a complete one.
"""

from vllm_patches.verify import kit

DEVICE = "cpu"  # "cuda" when the check needs a GPU


def run() -> kit.Finding:
    # TODO({patch_id}): exercise vLLM's real code so that the bug shows, for example:
    #     from {package} import {leaf}
    #     said = kit.attempt({leaf}.{call}, ...)  # Accepted or Rejected (type, message)
    #     return kit.Finding(bug=said.accepted, detail=f"{call}(...) {{said}}")
    raise NotImplementedError(
        "check.py of {patch_id} is still the skeleton vllm-patches catalog new wrote: write "
        "its run() to exercise vLLM's code and return kit.Finding(bug, detail)")
'''


def _write_folder(catalog: Path, patch_id: str, files: dict[str, str]) -> Path:
    """Write the files into a folder beside, then rename it into place: all or nothing."""
    try:
        catalog.mkdir(exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{patch_id}-new-", dir=catalog))
    except OSError as exc:
        raise ScaffoldError(_unwritable(catalog, exc)) from None
    try:
        folder = staging / patch_id
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        read_patch(folder, Stage.DRAFT)  # what catalog fingerprint reads next: a valid draft
        final = catalog / patch_id
        if os.path.lexists(final):
            raise ScaffoldError(_folder_exists(final))
        os.rename(folder, final)
    except OSError as exc:
        raise ScaffoldError(_unwritable(catalog, exc)) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


# Messages ---------------------------------------------------------------------------
def _bad_id(patch_id: str) -> str:
    return (f"'{patch_id}' is not a catalogue id: use lowercase letters, digits and single "
            "dashes (example: stop-string-earliest-match).")


def _no_target() -> str:
    return ("catalog new needs at least one --function vllm.module:Class.method or "
            "vllm.module:function.")


def _bad_target(text: str) -> str:
    return (f"--function '{text}' is not vllm.module:Class.method or vllm.module:function "
            "(example: vllm.v1.engine.detokenizer:check_stop_strings).")


def _ours(text: str) -> str:
    return f"--function '{text}' names a function vllm-patches itself adds; name vLLM's own."


def _bad_pr(raw: str) -> str:
    return (f"--pr '{raw}' is not a vLLM pull request (examples: 49391, "
            "vllm-project/vllm#49391, https://github.com/vllm-project/vllm/pull/49391).")


def _twice(first: TargetSpec, second: TargetSpec) -> str:
    if first == second:
        return f"--function {first.text} is given twice."
    return (f"--function {first.text} and {second.text} would meet in fix.py (one "
            f"{'class ' + first.class_name if first.class_name else 'module scope'} for both "
            "modules): put them in two patches.")


def _class_and_function(name: str) -> str:
    return (f"{name} is both a class and a module-level function among the targets, and fix.py "
            "can hold only one of them: put them in two patches.")


def _catalog_not_a_folder(catalog: Path) -> str:
    return f"--into {catalog} is a file, not a catalogue folder."


def _catalog_parent_missing(catalog: Path) -> str:
    return f"--into {catalog}: its parent folder {catalog.parent} does not exist."


def _folder_exists(folder: Path) -> str:
    return f"{folder} already exists; choose another id, or remove that folder first."


def _id_exists(patch_id: str, folder: Path) -> str:
    return (f"A patch with id {patch_id} already exists ({folder}); ids are unique across "
            "catalogues: choose another.")


def _unwrappable(spec: TargetSpec, what: str) -> str:
    return (f"--function {spec.text} is {what} in vLLM; vllm-patches wraps {_WRAPPABLE}.")


def _unwritable(catalog: Path, exc: OSError) -> str:
    return f"Cannot write the new patch into {catalog}: {exc.strerror or exc}."
