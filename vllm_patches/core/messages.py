"""What vllm-patches says about the catalogue, detection, reading code, versions and the verdict.

Each sentence is a small factory named for the situation, next to the code that says it."""

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


def catalog_refused(path: Path, problem: str) -> str:
    return f"Catalogue file {path} {problem}."


def catalog_bad_toml(path: Path, exc: Exception | str) -> str:
    return f"Catalogue file {path} is not valid TOML: {exc}."


def catalog_bad_field(path: Path, key: str, problem: str) -> str:
    return f"Catalogue file {path}: field '{key}' {problem}."


def after_unknown(path: Path, patch_id: str, other: str) -> str:
    return (f"Catalogue file {path}: field 'after' names {other}, which no catalogue holds: "
            f"{patch_id} can only compose with a patch that is there (fix the id, or add "
            "its catalogue).")


def after_cycle(path: Path, cycle: list[str]) -> str:
    ring = " after ".join([*cycle, cycle[0]])
    return (f"Catalogue file {path}: field 'after' makes a cycle ({ring}), so no order puts "
            "each fix outside the ones it names: remove one of these 'after' entries.")


def catalog_bad_fix(path: Path, problem: str) -> str:
    return f"Fix file {path} is unusable: {problem}."


def unknown_patch(patch_id: str, known: list[str]) -> str:
    return f"Unknown patch id '{patch_id}'; known ids: {', '.join(known) or 'none'}."


# Detection ------------------------------------------------------------------
def bad_version(raw: str, origin: str) -> str:
    return (f"'{raw}' from {origin} is not a PEP 440 version "
            "(example: 0.22.1 or 0.22.2.dev12+gabc123).")


def target_missing(target: Path) -> str:
    return f"Target folder {target} does not exist."


def target_not_vllm(target: Path) -> str:
    return (
        f"{target} is not a vLLM tree: it holds no vllm/__init__.py "
        "(give the folder that contains the vllm/ package, "
        "such as a fork checkout or a site-packages)."
    )


def unreadable_module(path: Path, exc: OSError) -> str:
    return f"Cannot read {path}: {exc.strerror or exc}."


# Shapes and states -----------------------------------------------------------
def module_absent(module: str) -> str:
    return f"this vLLM has no module {module}"


def module_without_source(module: str, kind: object, path: object) -> str:
    why = {
        "bytecode": f"Python imports its bytecode {path}, and no .py file is there",
        "extension": f"Python imports the extension module {path}, not its .py file",
        "unchecked-cache": (f"Python runs {path}, an unchecked hash-based .pyc compiled from "
                            "other source than the .py beside it"),
    }.get(str(kind), f"Python imports {path}")
    return (f"the source of {module} is missing ({why}), so vllm-patches cannot check "
            "its code")


def next_no_source(patch_id: str) -> str:
    return ("put the module's .py source back where Python imports it (reinstall vLLM's "
            "wheel, or build the image without stripping or precompiling it), then run "
            f"vllm-patches status again; the plugin will not apply {patch_id} to code it "
            "cannot check")


def module_unparsable(module: str, exc: SyntaxError) -> str:
    return f"{module} does not parse ({exc.msg}, line {exc.lineno})"


def class_absent(where: str) -> str:
    return f"this vLLM has no class {where}"


def method_absent(where: str, kind: object = "method") -> str:
    return f"this vLLM has no {kind} {where}"


def method_changed(where: str) -> str:
    return f"{where} differs from every known pre-fix shape (a fork changed it)"


def other_release_code(where: str) -> str:
    return f"{where} has the code of a vLLM release this patch is not for"


def partly_patched(where: str) -> str:
    return f"{where} holds part of a vllm-patches fix (an interrupted or hand-edited apply)"


def no_vllm() -> str:
    return "vLLM is not installed"


def applied_in_source(location: object) -> str:
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


def next_apply_covered(patch_id: str) -> str:
    return (f"nothing for vLLM processes: the plugin applies it at start-up; to write it into "
            f"the files instead: vllm-patches apply {patch_id}")


def next_revert(patch_id: str) -> str:
    return f"nothing; to undo: vllm-patches revert {patch_id}"


def next_drop(patch_id: str) -> str:
    return f"nothing; {patch_id} can be dropped from your patch set"


def next_modified(patch_id: str) -> str:
    return f"review the fork's change; vllm-patches backport {patch_id}, or apply --force"


def next_nothing() -> str:
    return "nothing"


def drift_still_applied(files: list[str], applied_at: str) -> str:
    return (f"the fix is in the files, but {', '.join(files)} changed since vllm-patches "
            f"applied it ({applied_at}; an edit?)")


def drift_changed(patch_id: str, files: list[str], applied_at: str) -> str:
    return (f"{', '.join(files)} changed since vllm-patches applied {patch_id} ({applied_at}; "
            "pip reinstall or an edit), and the fix is no longer in it")


def drift_stale_record(files: list[str], applied_at: str) -> str:
    return (f"the record of applying it ({applied_at}) is stale: {', '.join(files)} changed "
            "since (pip reinstall?)")


def next_review_drift(patch_id: str) -> str:
    return f"review the change; vllm-patches revert {patch_id} --force takes the fix's blocks out"


def next_drop_record(patch_id: str) -> str:
    return f"check the change; vllm-patches revert {patch_id} --force drops the stale record"


def next_apply_again(patch_id: str) -> str:
    return f"vllm-patches apply {patch_id}   (replaces the stale record)"


# Releases -------------------------------------------------------------------
def bad_release(version: str) -> str:
    return f"'{version}' is not a vLLM release version (example: 0.22.1)."


def release_download_failed(version: str) -> str:
    return (f"Could not download the vLLM {version} wheel with pip "
            "(is the version published, and is the index reachable?).")


def wrapped_by_other(other: str) -> str:
    return (f"its target is wrapped by patch {other} instead: the two touch the same code, "
            "so this fix is not in place")


# vLLM's sdist (its tests/) -----------------------------------------------------
def pip_failed(command: str, why: str) -> str:
    return f"Could not ask pip where to find vLLM's sdist (python -m pip {command}: {why})."


def pip_no_index() -> str:
    return ("pip is configured with no-index, so no package index can be asked for vLLM's "
            "sdist (unset PIP_NO_INDEX or no-index in pip's configuration).")


def pip_no_default_index() -> str:
    return ("pip is configured with no index-url, and 'pip download --help' states no default "
            "one: set index-url in pip's configuration or PIP_INDEX_URL.")


def sdist_not_found(version: str, tried: list[str]) -> str:
    return (f"None of the package indexes asked has vLLM {version}'s sdist "
            f"vllm-{version}.tar.gz (asked: {'; '.join(tried) or 'none'}).")


def sdist_no_hash(filename: str, index: str) -> str:
    return (f"The index {index} lists {filename} without a sha256 hash, so vllm-patches "
            "does not use it (an index that states its files' hashes is needed).")


def sdist_fetching(version: str, index: str, cache: Path) -> str:
    return (f"fetching the tests/ of vLLM {version}'s sdist from {index} (once, into "
            f"{cache}) ...")


def sdist_too_large(filename: str, limit_mib: int) -> str:
    return f"{filename} is larger than {limit_mib} MiB, so it is not downloaded; nothing was kept."


def sdist_download_failed(filename: str, url: str, why: str) -> str:
    return f"Could not download {filename} from {url} ({why}); nothing was kept."


def sdist_hash_mismatch(filename: str, index: str, want: str, got: str) -> str:
    return (f"The download of {filename} does not have the sha256 that {index} states for it "
            f"({want}; the bytes have {got}); nothing was kept.")


def sdist_bad_archive(filename: str, why: str) -> str:
    return f"vLLM's sdist {filename} is refused: {why}; nothing was kept."


# Security advisories (core.status) ------------------------------------------------
def advisory_fixed_upstream(patch) -> str:
    since = f" from {patch.applied_upstream} on" if patch.applied_upstream else ""
    return f"this vLLM has upstream's fix ({patch.upstream_pr}{since})"


def advisory_patched_source(patch_id: str) -> str:
    return f"{patch_id} is written into this vLLM's files"


def advisory_patched_runtime(patch_id: str) -> str:
    return f"the plugin puts {patch_id} in at every vLLM start"


def advisory_patched_here(patch_id: str) -> str:
    return f"{patch_id} is in place in this process"
