"""Every sentence vllm-patches says to a person, in one place.

Each is a small factory named for the situation, so that the code reads as
what happened and the wording can be reviewed here as a whole.
"""

from __future__ import annotations

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


# Auto-patching: vLLM plugin, .pth hook, process report ------------------------
def log_obsolete(pid: int, patch_id: str, version: str, fixed_in: object) -> str:
    since = f"since vLLM {fixed_in}" if fixed_in is not None else "in its code"
    return (
        f"pid {pid}: {patch_id} is obsolete for vLLM {version}: the fix is upstream ({since}); "
        f"vLLM runs its own fix, and {patch_id} can be dropped from your patch set"
    )


def unknown_ids_in_env(ids: list[str], known: list[str]) -> str:
    return (
        f"VLLM_PATCHES names unknown patch id(s) {', '.join(ids)}; known ids: "
        f"{', '.join(known) or 'none'} (or all, none)"
    )


def autopatch_failed(module: str, exc: BaseException) -> str:
    return (
        f"vllm-patches could not patch {module} ({type(exc).__name__}: {exc}); "
        "vLLM runs unpatched (VLLM_PATCHES_STRICT=1 makes this an error)"
    )


def inherited_patch(patch_id: str, ppid: int) -> str:
    return f"{patch_id} inherited from parent process {ppid} (forked after it was applied)"


def report_write_failed(path: str, exc: OSError) -> str:
    return f"vllm-patches cannot append to the report {path}: {exc.strerror or exc}"


def report_missing(path: str) -> str:
    return (
        f"Report file {path} does not exist (set VLLM_PATCHES_REPORT={path} "
        "in the environment of the vLLM processes first)."
    )


def report_unreadable(path: str, exc: OSError) -> str:
    return f"Cannot read report file {path}: {exc.strerror or exc}."


def report_with_target() -> str:
    return "--report reads a report file and does not combine with --target or --vllm-version."


def report_empty(path: str) -> str:
    return f"Report {path}: no process has recorded a patch yet."


def report_heading(path: str, processes: int, unreadable: int) -> str:
    extra = f" ({unreadable} unreadable line(s) ignored)" if unreadable else ""
    return f"Report {path}: {processes} process(es){extra}"


def report_patch_line(patch_id: str, counts: dict[str, int], total: int) -> str:
    parts = ", ".join(f"{outcome} in {n}" for outcome, n in counts.items())
    return f"{patch_id}: {parts} of {total} process(es)"


def site_missing(site: object) -> str:
    return f"Site folder {site} does not exist (give an existing site-packages folder with --site)."


def site_not_folder(site: object) -> str:
    return f"{site} is not a folder (give a site-packages folder with --site)."


def hook_write_failed(path: object, exc: OSError) -> str:
    return (
        f"Cannot write {path}: {exc.strerror or exc} "
        "(run as the owner of that environment, or give another --site DIR)."
    )


def hook_remove_failed(path: object, exc: OSError) -> str:
    return f"Cannot remove {path}: {exc.strerror or exc} (run as the owner of that environment)."


def hook_installed(path: object) -> str:
    return (
        f"Installed {path}: every Python that reads this folder at start-up now patches vLLM "
        "when it imports a patched module."
    )


def hook_already_installed(path: object) -> str:
    return f"Already installed: {path}"


def hook_not_read_at_startup(site: object) -> str:
    return (
        f"Note: this Python does not read .pth files from {site} at start-up "
        "(it is none of its site-packages folders)."
    )


def hook_removed(path: object) -> str:
    return f"Removed {path}: new Python processes no longer load the hook."


def hook_not_installed(site: object) -> str:
    return f"The hook is not installed in {site}; nothing to remove."


def hook_status_installed(path: object, current: bool) -> str:
    if current:
        return f"Hook: installed at {path}"
    return f"Hook: installed at {path}, but written by another vllm-patches (run: vllm-patches hook install)"


def hook_status_missing(site: object) -> str:
    return f"Hook: not installed in {site} (vllm-patches hook install adds it)"


def hook_status_startup(read: bool) -> str:
    return f"Read at start-up by this Python: {'yes' if read else 'no'}"


def hook_status_active(armed_by: tuple[str, ...]) -> str:
    return f"Auto-patching armed in this process: {', '.join(armed_by) if armed_by else 'no'}"
