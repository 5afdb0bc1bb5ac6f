"""What vllm-patches says about the command line.

Each sentence is a small factory named for the situation, next to the code that says it."""

from __future__ import annotations


# CLI ------------------------------------------------------------------------
def status_no_vllm() -> str:
    return "vLLM: not installed (give --target DIR for a fork checkout or another site-packages)"


def backport_continue_and_abort() -> str:
    return "Give either --continue or --abort, not both."


def backport_continue_alone() -> str:
    return ("--continue and --abort take only --repo (and --json): "
            "the rest was recorded when the backport was kept.")


def internal_error(exc: Exception, debug_env: str) -> str:
    where = type(exc).__module__.split(".")[0]
    origin = "" if where in ("builtins", "vllm_patches") else f" (raised in {where})"
    return (f"internal error: {type(exc).__name__}: {exc}{origin}; this is a bug of "
            f"vllm-patches: run again with {debug_env}=1 for the traceback and report it.")


def output_unwritable(exc) -> str:
    return f"Cannot write to standard output ({exc.strerror or exc})."


def deprecated(old: str, new: str) -> str:
    return f"warning: {old} is deprecated and goes in the next release; use {new}."


def old_and_new_option(old: str, new: str) -> str:
    return f"Give {new} only ({old} is its old spelling)."


def new_needs_into() -> str:
    return "catalog new needs --into DIR: the catalogue folder to write the patch into."


# Export -------------------------------------------------------------------------
def list_one_format() -> str:
    return "Give --json or --markdown, not both: they are two ways to print the list."


def list_skipped(message: str) -> str:
    return f"not listed: {message}"


def export_no_vllm() -> str:
    return "No vLLM found to export against; give the fork checkout with --target DIR."


def export_unwritable(path: object, exc: OSError) -> str:
    return f"Cannot write {path}: {exc.strerror or exc}."


def export_written(path: object, count: int) -> str:
    return f"wrote {count} patch{'es' if count != 1 else ''} to {path}"


# Source mode: apply / revert / diff on a tree's files ---------------------------
def source_no_vllm() -> str:
    return ("vLLM is not installed here; give --target DIR (the folder that holds vllm/) "
            "or --release VERSION with diff or export.")


def source_release_is_read_only() -> str:
    return ("--release works on a cached copy of the release and writes nothing: "
            "use it with diff or export, and --target DIR to write.")


def source_target_and_release() -> str:
    return "Give either --target or --release, not both."


def source_nothing_selected() -> str:
    return "no patch applies to this vLLM; nothing to do"


def source_nothing_to_revert() -> str:
    return "no patch is applied in source here; nothing to revert"


def report_with_target() -> str:
    return "--report reads a report file and does not combine with --target or --vllm-version."


def report_empty(path: str, run: str | None = None) -> str:
    of_run = f", run {run}" if run else ""
    return f"Report {path}{of_run}: no process has recorded a patch yet."


def report_heading(path: str, processes: int, unreadable: int, run: str | None = None) -> str:
    extra = f" ({unreadable} unreadable line(s) ignored)" if unreadable else ""
    of_run = f", run {run}" if run else ""
    return f"Report {path}{of_run}: {processes} process(es){extra}"


def report_runs_heading(count: int) -> str:
    return (f"{count} run(s) in this report, oldest first (--check --run ID asks about one; "
            "a run is the VLLM_PATCHES_RUN its processes shared):")


def report_no_run() -> str:
    return "(none: lines from before runs)"


def report_check_needs_run(path: str) -> str:
    return (f"--check needs --run ID, the run it is asked about: the VLLM_PATCHES_RUN you gave "
            f"the vLLM processes (vllm-patches report {path} lists the runs the file "
            "holds); without it, lines of an earlier run in the same file could pass for "
            "this one.")


def report_empty_run() -> str:
    return "--run needs a run id (the VLLM_PATCHES_RUN of the vLLM processes)."


def run_without_report() -> str:
    return "--run names a run of a report file: use it with vllm-patches report FILE."


def report_patch_line(patch_id: str, counts: dict[str, int], total: int) -> str:
    parts = ", ".join(f"{outcome} in {n}" for outcome, n in counts.items())
    return f"{patch_id}: {parts} of {total} process(es)"


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


# Uninstall ----------------------------------------------------------------------
def uninstall_no_vllm() -> str:
    return ("vLLM: not installed here, so no source patch to revert "
            "(give --target DIR for a tree that holds vllm/)")


def uninstall_would_remove(path: object) -> str:
    return f"Would remove {path}."


def uninstall_no_state(state: object) -> str:
    if state is None:
        return "No vLLM tree, so no .vllm-patches/ folder to remove."
    return f"No {state}: nothing was recorded there."


def uninstall_state_removed(state: object) -> str:
    return f"Removed {state}: the record of what vllm-patches wrote there."


def uninstall_state_kept(state: object, refused: list[str], others: list[str]) -> str:
    if refused:
        return (f"Kept {state}: its record still names {', '.join(refused)}, which could not "
                "be reverted (see above).")
    if others:
        return (f"Kept {state}: it holds files vllm-patches did not write ({', '.join(others)}); "
                "move them away, then remove the folder.")
    return f"Kept {state}: it could not be removed."


def uninstall_unrecorded_fix(patch_id: str, root: object) -> str:
    return (f"{patch_id}: its fix is in the files under {root} without a record of "
            "vllm-patches writing it (a fork's backport commit, or a lost record); "
            f"vllm-patches revert {patch_id} --force --target {root} takes it out.")


def uninstall_cache_left(path: object) -> str:
    return (f"The user cache {path} (the release trees and shapes vllm-patches fetched): "
            "remove it by hand if you like.")


def uninstall_package_left() -> str:
    return ("The package itself, and with it the vllm.general_plugins entry point that "
            "patches each vLLM process at start-up: pip uninstall vllm-patches.")


def hook_status_installed(path: object, current: bool) -> str:
    if current:
        return f"Hook: installed at {path}"
    return (f"Hook: installed at {path}, but written by another vllm-patches "
            "(run: vllm-patches hook install)")


def hook_status_missing(site: object) -> str:
    return f"Hook: not installed in {site} (vllm-patches hook install adds it)"


def hook_status_startup(read: bool) -> str:
    return f"Read at start-up by this Python: {'yes' if read else 'no'}"


def hook_status_active(armed_by: tuple[str, ...]) -> str:
    return f"Auto-patching armed in this process: {', '.join(armed_by) if armed_by else 'no'}"


def verify_no_control_ignored() -> str:
    return ("warning: --no-control is deprecated and goes in the next release; it is ignored "
            "now: every check runs its control.")


def verify_json_unwritable(path: str, exc: OSError) -> str:
    return f"Cannot write the JSON report to {path}: {exc.strerror or exc}."


def status_conflict(patch_id: str, says: str) -> str:
    return f"conflict: {patch_id} {says}"


# status --metrics URL ---------------------------------------------------------
def metrics_with_other_source() -> str:
    return ("--metrics reads a running server: give it without a report FILE, --report, "
            "--run, --target or --vllm-version.")


def report_needs_file() -> str:
    return ("Give the report FILE (the VLLM_PATCHES_REPORT of vLLM's processes), or --metrics "
            "URL for a running server's /metrics.")


def metrics_heading(url: str, armed: int, versions, ours, multiprocess: bool) -> str:
    vllm = f"vLLM {', '.join(versions)}" if versions else "vLLM of unknown version"
    counted = ("every process counted" if multiprocess else
               "the API server's process alone counted (set PROMETHEUS_MULTIPROC_DIR for vLLM "
               "to count every process)")
    return (f"Metrics {url}: {armed} process(es) armed vllm-patches "
            f"{', '.join(ours) or '?'} ({vllm}); {counted}")


# catalog fingerprint: upstream's tests ------------------------------------------
def candidates_heading(first_fixed: str, last_affected: str, needles: list[str],
                       any_found: bool) -> str:
    mention = " or ".join(needles)
    if not any_found:
        return (f"upstream tests: none changed in {first_fixed} (since {last_affected}) that "
                f"mention {mention}.")
    return (f"upstream tests that changed in {first_fixed} (since {last_affected}) and mention "
            f"{mention}:")


def candidates_unlisted(why: str) -> str:
    return f"warning: upstream tests not listed, {why[0].lower() + why[1:]}"


def advisories_heading(version, known: int, still_open: int) -> str:
    where = f"vLLM {version}" if version else "no vLLM found here"
    if not known:
        return f"{where}: the catalogues know no security advisory of the patches asked about"
    return (f"{where}: {known} security advisory(ies) the catalogues know; "
            + (f"{still_open} open" if still_open else "none open"))


def vex_no_vllm() -> str:
    return "vex describes a vLLM, and none was found here: give --target DIR."


def vex_needs_cyclonedx() -> str:
    return ("vex builds its document with cyclonedx-python-lib, which is not installed: "
            "pip install 'vllm-patches[vex]'.")
