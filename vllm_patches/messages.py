"""Every sentence vllm-patches says to a person, in one place.

Each is a small factory named for the situation, so that the code reads as
what happened and the wording can be reviewed here as a whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

OVERRIDE_ORIGIN = "--vllm-version / VLLM_PATCHES_VLLM_VERSION"


# Catalogue ------------------------------------------------------------------
def catalog_missing(path: Path) -> str:
    return f"The patch catalogue is missing (looked for {path}); reinstall vllm-patches."


def catalog_unreadable(path: Path, exc: OSError) -> str:
    return f"Cannot read catalogue file {path}: {exc.strerror or exc}."


def catalog_bad_toml(path: Path, exc: Exception) -> str:
    return f"Catalogue file {path} is not valid TOML: {exc}."


def catalog_bad_field(path: Path, key: str, problem: str) -> str:
    return f"Catalogue file {path}: field '{key}' {problem}."


def catalog_bad_fix(path: Path, problem: str) -> str:
    return f"Fix file {path} is unusable: {problem}."


def catalog_failed_at_runtime() -> str:
    return "vllm-patches could not load its catalogue; vLLM runs unpatched."


def unknown_patch(patch_id: str, known: list[str]) -> str:
    return f"Unknown patch id '{patch_id}'; known ids: {', '.join(known) or 'none'}."


# Detection ------------------------------------------------------------------
def bad_version(raw: str, origin: str) -> str:
    return f"'{raw}' from {origin} is not a PEP 440 version (example: 0.22.1 or 0.22.2.dev12+gabc123)."


def target_missing(target: Path) -> str:
    return f"Target folder {target} does not exist."


def target_not_vllm(target: Path) -> str:
    return (
        f"{target} is not a vLLM tree: it holds no vllm/__init__.py "
        "(give the folder that contains the vllm/ package, such as a fork checkout or a site-packages)."
    )


def unreadable_module(path: Path, exc: OSError) -> str:
    return f"Cannot read {path}: {exc.strerror or exc}."


# Shapes and states -----------------------------------------------------------
def module_absent(module: str) -> str:
    return f"this vLLM has no module {module}"


def module_unparsable(module: str, exc: SyntaxError) -> str:
    return f"{module} does not parse ({exc.msg}, line {exc.lineno})"


def class_absent(where: str) -> str:
    return f"this vLLM has no class {where}"


def method_absent(where: str) -> str:
    return f"this vLLM has no method {where}"


def method_changed(where: str) -> str:
    return f"{where} differs from every known pre-fix shape (a fork changed it)"


def partly_patched(where: str) -> str:
    return f"{where} holds part of a vllm-patches fix (an interrupted or hand-edited apply)"


def no_vllm() -> str:
    return "vLLM is not installed"


def applied_in_source(location: Path) -> str:
    return f"the fix is written into the files under {location}"


def applied_at_runtime() -> str:
    return "applied at run time in this process"


def pre_fix_found(version: object) -> str:
    shown = version if version is not None else "this vLLM (version unknown)"
    return f"{shown} has the pre-fix code"


def pre_fix_outside_range(version: object, affected: object) -> str:
    return f"{version} is outside {affected}, but its code has the pre-fix shape"


def fixed_upstream(version: object, fixed_in: object) -> str:
    if fixed_in is None:
        return f"{version} already has this fix"
    return f"{version} already has this fix (upstream since {fixed_in})"


def fixed_shape_found() -> str:
    return "the code already has the upstream fix"


def outside_range(version: object, affected: object) -> str:
    return f"{version} is not affected (the patch is for {affected})"


def next_apply(patch_id: str) -> str:
    return f"vllm-patches apply {patch_id}   (or let the vLLM plugin apply it at run time)"


def next_revert(patch_id: str) -> str:
    return f"nothing; to undo: vllm-patches revert {patch_id}"


def next_drop(patch_id: str) -> str:
    return f"nothing; {patch_id} can be dropped from your patch set"


def next_modified(patch_id: str) -> str:
    return f"review the fork's change; vllm-patches backport --patch {patch_id}, or apply --force"


def next_nothing() -> str:
    return "nothing"


# Runtime mode -----------------------------------------------------------------
def already_applied_here(patch_id: str) -> str:
    return f"{patch_id} is already applied in this process"


def found_in_source(patch_id: str) -> str:
    return f"{patch_id} is already written into vLLM's source; nothing to do at run time"


def applied_now(patch_id: str, version: str) -> str:
    return f"{patch_id} applied at run time (vLLM {version})"


def apply_failed(patch_id: str, exc: BaseException) -> str:
    return f"{patch_id} could not be applied ({type(exc).__name__}: {exc}); vLLM runs without it"


def refuse_modified(patch_id: str, where: str) -> str:
    return (
        f"{patch_id} refused: {where} differs from every known pre-fix shape (a fork changed it); "
        "review it, then use force=True (CLI: --force) or vllm-patches backport"
    )


def not_applied_here(patch_id: str) -> str:
    return f"{patch_id} is not applied in this process"


def reverted_here(patch_id: str) -> str:
    return f"{patch_id} reverted: the original functions are back"


def log_applied(pid: int, patch_id: str, mode: str, version: str) -> str:
    return f"pid {pid}: applied {patch_id} ({mode}) to vLLM {version}"


# CLI ------------------------------------------------------------------------
def status_no_vllm() -> str:
    return "vLLM: not installed (give --target DIR for a fork checkout or another site-packages)"


# Releases -------------------------------------------------------------------
def bad_release(version: str) -> str:
    return f"'{version}' is not a vLLM release version (example: 0.22.1)."


def release_download_failed(version: str) -> str:
    return f"Could not download the vLLM {version} wheel with pip (is the version published, and is the index reachable?)."


# Source edit ------------------------------------------------------------------
def edit_already_patched(patch_id: str, module: str) -> str:
    return f"{patch_id} is already written into {module}"


def edit_refused(patch_id: str, module: str, why: str) -> str:
    return f"{patch_id} cannot be written into {module}: {why}"


def edit_no_def_line(name: str, module: str) -> str:
    return f"cannot find the 'def {name}' line in {module}"


def edit_unterminated(patch_id: str, module: str) -> str:
    return f"{module} has a '>>> vllm-patches {patch_id}' block without its end marker (hand-edited?)"


def edit_not_patched(patch_id: str, module: str) -> str:
    return f"{module} holds no vllm-patches block of {patch_id}"


def edit_broke_syntax(module: str, exc: SyntaxError) -> str:
    return f"the edited {module} would not compile ({exc.msg}, line {exc.lineno}); nothing was written"


def edit_not_recognised(patch_id: str, module: str) -> str:
    return f"the edited {module} does not read back as patched with {patch_id}; nothing was written"
