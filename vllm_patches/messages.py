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


def other_release_code(where: str) -> str:
    return f"{where} has the code of a vLLM release this patch is not for"


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


# Runtime mode -----------------------------------------------------------------
def already_applied_here(patch_id: str) -> str:
    return f"{patch_id} is already applied in this process"


def found_in_source(patch_id: str) -> str:
    return f"{patch_id} is already written into vLLM's source; nothing to do at run time"


def applied_now(patch_id: str, version: str) -> str:
    return f"{patch_id} applied at run time (vLLM {version})"


def apply_failed(patch_id: str, exc: BaseException) -> str:
    return f"{patch_id} could not be applied ({type(exc).__name__}: {exc}); vLLM runs without it"


def refuse_modified(patch_id: str, reason: str) -> str:
    return (
        f"{patch_id} refused: {reason}; "
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


# Backport -----------------------------------------------------------------------
def backport_needs_git(exc: Exception) -> str:
    return f"backport needs GitPython and the git command ({exc}); install git and pip install gitpython."


def backport_not_a_repo(path: object) -> str:
    return f"{path} is not inside a git repository (give the fork checkout with --repo)."


def backport_unborn(path: object) -> str:
    return f"The repository at {path} has no commits yet; there is no branch to backport onto."


def backport_dirty(path: object) -> str:
    return (f"The checkout at {path} has uncommitted changes to tracked files; "
            "commit or stash them first (backport never touches them, but refuses to guess).")


def backport_no_identity() -> str:
    return ("git does not know who you are, so no commit can be made: "
            "set git config user.name and user.email.")


def backport_no_onto() -> str:
    return "Name at least one branch to backport onto with --onto BRANCH."


def backport_bad_strategy(strategy: str, known: tuple[str, ...]) -> str:
    return f"Unknown strategy '{strategy}'; use one of: {', '.join(known)}."


def backport_unknown_onto(name: str) -> str:
    return f"No branch, tag or commit '{name}' in this repository."


def backport_not_vllm(name: str) -> str:
    return f"Branch {name} is not a vLLM tree: it has no vllm/__init__.py at its root."


def backport_bad_branch_name(name: str) -> str:
    return f"'{name}' is not a valid git branch name (see git check-ref-format); give another with --branch."


def backport_branch_clash(name: str) -> str:
    return (f"Several backports would create the same branch '{name}'; "
            "use {patch} and {onto} in --branch.")


def backport_in_progress(path: object) -> str:
    return (f"A backport in {path} is waiting for you; finish it with "
            "vllm-patches backport --continue, or drop it with --abort.")


def backport_nothing_pending(path: object) -> str:
    return f"No backport is waiting in {path}; there is nothing to continue or abort."


def backport_state_unreadable(path: object, exc: Exception) -> str:
    return f"The backport state file {path} is unreadable ({exc}); remove it after checking git worktree list."


def backport_version_from_tag(tag: str, distance: int) -> str:
    if not distance:
        return f"tag {tag}"
    return f"tag {tag} + {distance} commit{'s' if distance != 1 else ''}"


def backport_no_version() -> str:
    return "vLLM version unknown: judged by the code's shape alone; give --vllm-version to check the range"


def backport_already_applied(onto: str) -> str:
    return f"{onto} already holds the vllm-patches fix"


def backport_already_backported(branch: str) -> str:
    return f"branch {branch} already holds this backport; nothing new committed"


def backport_branch_exists(branch: str) -> str:
    return f"branch {branch} exists but does not hold the fix; delete it or name another with --branch"


def backport_would_edit(why: str) -> str:
    return f"{why}; would write the fix with the source engine"


def backport_would_pick(sha: str) -> str:
    return f"would cherry-pick {sha[:12]} with -x"


def backport_created_by_edit(why: str) -> str:
    return f"{why}; fix written with the source engine"


def backport_created_by_pick(sha: str) -> str:
    return f"cherry-picked {sha[:12]} with -x"


def backport_not_upstream(patch_id: str) -> str:
    return f"{patch_id} is not merged upstream, so there is no upstream commit to cherry-pick; use --strategy edit"


def backport_upstream_missing(pr: str) -> str:
    return (f"the upstream commit of {pr} is not in this repository (fetch upstream's branches, "
            "or use --strategy edit)")


def backport_upstream_on_branch(sha: str) -> str:
    return f"upstream commit {sha[:12]} is already on this branch, yet its code lacks the fix (reverted?)"


def backport_pick_conflict(sha: str, files: list[str]) -> str:
    return f"cherry-picking {sha[:12]} conflicts in {', '.join(files)}"


def backport_pick_failed(sha: str, exc: Exception) -> str:
    detail = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()
    return f"git cherry-pick {sha[:12]} failed: {detail[0] if detail else exc}"


def backport_pick_not_fix(sha: str, why: str) -> str:
    return f"after cherry-picking {sha[:12]} the code still does not read as fixed ({why}); nothing kept"


def backport_git_failed(exc: Exception) -> str:
    detail = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()
    return f"git failed: {detail[-1] if detail else exc}"


def backport_kept(why: str, worktree: object, patch_id: str) -> str:
    return (f"{why}. Left for you in {worktree}: make the change there by hand "
            f"(vllm-patches export {patch_id} --target {worktree} --force shows the engine's edit), "
            "then run vllm-patches backport --continue, or --abort to drop it")


def backport_worktree_gone(worktree: object) -> str:
    return f"the worktree {worktree} is gone; run vllm-patches backport --abort"


def backport_still_unmerged(files: list[str], worktree: object) -> str:
    return f"conflicts remain in {', '.join(files)} under {worktree}: resolve them and git add them"


def backport_not_fixed_yet(why: str, worktree: object) -> str:
    return f"the code under {worktree} does not read as fixed yet ({why}); make the change, then --continue"


def backport_nothing_changed(worktree: object) -> str:
    return f"nothing was changed under {worktree}; make the change, then --continue"


def backport_continued() -> str:
    return "your change committed with the backport's message"


def backport_aborted(branch: str) -> str:
    return f"worktree and branch {branch} removed"


def backport_continue_and_abort() -> str:
    return "Give either --continue or --abort, not both."


def backport_continue_alone() -> str:
    return "--continue and --abort take only --repo (and --json): the rest was recorded when the backport was kept."


# Export -------------------------------------------------------------------------
def export_no_vllm() -> str:
    return "No vLLM found to export against; give the fork checkout with --target DIR."


def export_unwritable(path: object, exc: OSError) -> str:
    return f"Cannot write {path}: {exc.strerror or exc}."


def export_written(path: object, count: int) -> str:
    return f"wrote {count} patch{'es' if count != 1 else ''} to {path}"
# Source mode: apply / revert / diff on a tree's files ---------------------------
def source_no_vllm() -> str:
    return ("vLLM is not installed here; give --target DIR (the folder that holds vllm/) "
            "or --release VERSION with diff or apply --dry-run.")


def source_release_is_read_only() -> str:
    return ("--release works on a cached copy of the release and writes nothing: "
            "use it with diff or apply --dry-run, and --target DIR to write.")


def source_target_and_release() -> str:
    return "Give either --target or --release, not both."


def source_escapes_tree(path: Path, root: Path) -> str:
    return (f"{path} leads outside the vLLM tree {root} (through a symlink or '..'); "
            "vllm-patches writes only inside the tree it was given.")


def source_read_only(path: Path) -> str:
    return (f"Cannot write {path} (read-only or permission denied); "
            "use the runtime hook instead, which patches vLLM in memory without writing files.")


def source_not_utf8(path: Path) -> str:
    return f"{path} is not UTF-8 text; vllm-patches edits only UTF-8 Python files."


def source_pending(root: Path) -> str:
    return (f"An interrupted vllm-patches write is pending in {root}; "
            "run vllm-patches apply or revert there to complete it first.")


def source_applied(patch_id: str, files: list[str]) -> str:
    return f"{patch_id} applied to {', '.join(files)}"


def source_would_apply(patch_id: str, files: list[str]) -> str:
    return f"{patch_id} would be applied to {', '.join(files)}"


def source_already_applied(patch_id: str, recorded: bool) -> str:
    note = "" if recorded else " (without a record: written by hand or by another tool)"
    return f"{patch_id} is already applied in source{note}; nothing to do"


def source_refused_modified(patch_id: str, why: str) -> str:
    return (f"{patch_id} refused: {why}; review the fork's change, then apply --force, "
            f"or port the fix with vllm-patches backport --patch {patch_id}")


def source_refused(patch_id: str, why: str) -> str:
    return f"{patch_id} refused: {why}"


def source_skipped(patch_id: str, why: str) -> str:
    return f"{patch_id} skipped: {why}"


def source_skipped_modified(patch_id: str, why: str) -> str:
    return (f"{patch_id} not applied: {why}; the fix is missing "
            f"(review, then vllm-patches apply {patch_id} --force, or backport)")


def source_reverted(patch_id: str, files: list[str], forced: bool) -> str:
    how = " (forced: the fix's blocks taken out of the changed files)" if forced else ""
    return f"{patch_id} reverted in {', '.join(files)}: the original bytes are back{how}"


def source_not_applied(patch_id: str) -> str:
    return f"{patch_id} is not applied in source here; nothing to revert"


def source_record_stale(patch_id: str) -> str:
    return (f"{patch_id}: the files already hold their original bytes again (pip reinstall?); "
            "the stale record is dropped")


def source_record_dropped(patch_id: str) -> str:
    return (f"{patch_id}: the record is dropped; the files hold no trace of the fix "
            "and are left as they are")


def source_changed_since(patch_id: str, files: list[str]) -> str:
    return (f"{patch_id} refused: {', '.join(files)} changed since vllm-patches applied it "
            "(pip reinstall or an edit); check the change, then revert --force takes the "
            "fix's blocks out of the file as it is now")


def source_no_record(patch_id: str) -> str:
    return (f"{patch_id} refused: the fix is in the files but there is no record of "
            "vllm-patches applying it here; revert --force takes its blocks out anyway")


def source_revert_later_first(patch_id: str, later: str, path: str) -> str:
    return f"{patch_id} refused: revert {later} first (applied later to {path})"


def source_revert_mismatch(patch_id: str, path: str) -> str:
    return (f"{patch_id} refused: taking the fix out of {path} does not give the recorded "
            "original bytes back; nothing was written")


def source_nothing_selected() -> str:
    return "no patch applies to this vLLM; nothing to do"


def source_nothing_to_revert() -> str:
    return "no patch is applied in source here; nothing to revert"


# Source mode: record and transaction -------------------------------------------
def record_unreadable(path: Path, exc: OSError) -> str:
    return f"Cannot read the vllm-patches record {path}: {exc.strerror or exc}."


def record_corrupt(path: Path, problem: object) -> str:
    return (f"The vllm-patches record {path} is corrupt ({problem}); check the files with "
            "vllm-patches status, then restore the record or move it aside.")


def write_failed(exc: OSError) -> str:
    where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
    return (f"Cannot write{where} ({exc.strerror or exc}); nothing was changed "
            "(the runtime hook patches vLLM without writing files).")


def write_interrupted(root: Path, exc: OSError) -> str:
    return (f"Writing the files under {root} stopped halfway ({exc.strerror or exc}); "
            "fix the cause and run vllm-patches apply or revert there to complete it.")


def journal_cannot_complete(path: Path) -> str:
    return (f"An interrupted vllm-patches write cannot be completed: {path} changed since; "
            "check it, then remove the journal in the tree's .vllm-patches folder.")


def source_unknown_recorded(patch_id: str, tool_version: str) -> str:
    return (f"{patch_id} refused: it is in the record (written by vllm-patches {tool_version}) "
            "but not in this vllm-patches' catalogue; revert it with that version")
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
# GPU verification: vllm-patches verify ----------------------------------------
def verify_no_vllm() -> str:
    return "vLLM is not installed here; install it, or give --target DIR for a vLLM tree."


def verify_no_mtp(version: object, module: str) -> str:
    return f"vLLM {version or '(version unknown)'} has no Gemma 4 MTP ({module} is missing), so there is nothing to verify."


def verify_no_centroid_graphs(version: object) -> str:
    return (
        f"vLLM {version or '(version unknown)'} captures no Gemma 4 MTP centroid CUDA graphs "
        "(Gemma4Proposer._setup_centroids_cuda_graphs is missing), so there is nothing to verify."
    )


def verify_no_torch(exc: BaseException) -> str:
    return f"PyTorch cannot be imported here ({type(exc).__name__}: {exc}); vllm-patches verify needs PyTorch with CUDA."


def verify_no_cuda(torch_version: str) -> str:
    return f"No CUDA GPU is visible here (torch {torch_version}: torch.cuda.is_available() is False); run vllm-patches verify on a GPU machine."


def verify_bad_sizes(raw: str) -> str:
    return f"--sizes wants positive whole numbers separated by commas (example: 1,2,4,8,16,32,64,65); got '{raw}'."


def verify_bad_vocab(vocab: int, centroids: int) -> str:
    return f"--vocab must be a multiple of the {centroids} centroids of the Gemma 4 assistant (example: 262144); got {vocab}."


def verify_arms_cannot_start(arm: str, scenario: str, error: str) -> str:
    return f"The {arm} arm could not start ({scenario}): {error}"


def verify_json_unwritable(path: str, exc: OSError) -> str:
    return f"Cannot write the JSON report to {path}: {exc.strerror or exc}."


def arm_import_failed(error: str) -> str:
    return f"vLLM's Gemma 4 MTP modules could not be imported ({error})"


def control_runs_patched_code(methods: list[str]) -> str:
    return (
        f"the original code cannot run: Gemma4MTP.{', '.join(methods)} is already patched in this "
        "process (a vllm-patches hook ignored VLLM_PATCHES=none)"
    )


def control_in_source(location: object) -> str:
    return (
        f"the fix is written into the source under {location}, so the original code cannot run "
        "here; verify an unpatched copy of this vLLM for the control"
    )


def control_left_out() -> str:
    return "left out (--no-control)"


def rank_group_failed(error: str) -> str:
    return f"the process group could not be set up ({error})"


def rank_gave_nothing(rank: int, failure: str | None) -> str:
    why = f" ({failure})" if failure else ""
    return f"rank {rank} ended without a result{why}"


def arm_crashed(returncode: int, last_line: str) -> str:
    how = _exit_text(returncode)
    return f"the process {how} without a result" + (f": {last_line}" if last_line else "")


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        import signal

        try:
            return f"died of {signal.Signals(-returncode).name}"
        except ValueError:
            return f"died of signal {-returncode}"
    return f"exited with code {returncode}"


def arm_timed_out(seconds: float) -> str:
    return f"no result within {seconds:.0f} s (stopped)"


def mode_emulated(tp: int, why: str) -> str:
    return (
        f"emulated TP={tp} on one GPU ({why}): one process plays rank 0 and vLLM's all-gather "
        f"is replaced by a concatenation of the {tp} shards into a new tensor "
        "(NCCL refuses two ranks on one GPU)"
    )


def mode_emulated_asked() -> str:
    return "--emulate-tp"


def mode_emulated_few_gpus(gpus: int, tp: int) -> str:
    return f"{gpus} GPU(s) visible, TP={tp} needs {tp}"


def mode_single(why: str = "TP=1") -> str:
    return f"TP=1 on one GPU ({why}): nothing is gathered, so the control is not expected to fail"


def mode_ranks(tp: int, backend: str) -> str:
    return (
        f"TP={tp} over {tp} GPUs: {tp} ranks (torch.multiprocessing spawn, {backend}) set up with "
        "vLLM's init_distributed_environment and initialize_model_parallel; every rank compares"
    )


def mode_cpu(tp: int) -> str:
    return (
        f"CPU with emulated CUDA graphs and emulated TP={tp}: for tests only "
        "(a replay that reads a freed tensor fails)"
    )


def verify_started(version: object, location: object, mode: str, processes: int) -> str:
    return f"Verifying vLLM {version} at {location}: {mode}. {processes} arm process(es) at once."


def arm_progress(arm: str, scenario: str, outcome: str, detail: str, seconds: float) -> str:
    return f"  {arm:<8} {scenario:<8} {outcome:<11} {detail} ({seconds:.1f} s)"


def progress_match(sizes: int, trials: int) -> str:
    return f"token ids identical to eager at all {sizes} sizes, {trials} trial(s) each"


def progress_mismatch(bad: list[int]) -> str:
    return f"token ids differ from eager at size(s) {', '.join(str(s) for s in bad)}"


def progress_error(where: str | None, error: str | None) -> str:
    return f"at {where}: {error}" if where else str(error)


def size_paths(captured: list[int], eager: list[int], padded: list[tuple[int, int]]) -> str:
    parts = []
    if captured:
        parts.append(f"sizes {', '.join(str(s) for s in captured)} replay their captured CUDA graph")
    for size, graph in padded:
        parts.append(f"{size} replays the graph of {graph}")
    if eager:
        verb = "takes" if len(eager) == 1 else "take"
        parts.append(f"{', '.join(str(s) for s in eager)} {verb} vLLM's eager fallback")
    return "; ".join(parts) + "."


def patched_with(outcomes: list[dict]) -> str:
    if not outcomes:
        return "no patch outcome was reported"
    return "; ".join(f"{o['id']} {o['outcome']} ({o['mode']})" for o in outcomes)


def verdict_pass(scenarios: list[str]) -> str:
    return f"PASS: the patched code gives exactly eager's token ids at every size ({', '.join(scenarios)})."


def verdict_fail(failed: list[str]) -> str:
    return f"FAIL: the patched code does not match eager in {', '.join(failed)}."


def _scenario_list(items: list[tuple[str, str]]) -> str:
    return "; ".join(f"{scenario}: {what}" for scenario, what in items)


def control_reproduced(shown: list[tuple[str, str]]) -> str:
    return f"The control reproduced the bug ({_scenario_list(shown)}), so the check is meaningful."


def control_reproduced_partly(shown: list[tuple[str, str]], hidden: list[tuple[str, str]]) -> str:
    return (
        f"The control reproduced the bug in {_scenario_list(shown)}, not in {_scenario_list(hidden)}: "
        "only the scenario(s) where it failed show that the fix is needed on this vLLM."
    )


def control_not_reproduced(hidden: list[tuple[str, str]]) -> str:
    return (
        f"The control did not reproduce the bug ({_scenario_list(hidden)}): on this machine the "
        "check does not show that the bug exists, so a PASS proves less."
    )


def control_not_run(reason: str) -> str:
    return f"Control: {reason}."


# Auto-patching, as status shows it ----------------------------------------------------
def autopatch_no_plugin() -> str:
    return ("Auto-patching: off (the vllm-patches plugin entry point is not installed in this "
            "environment: pip install vllm-patches here)")


def autopatch_filtered(vllm_plugins: str) -> str:
    return (f"Auto-patching: off (VLLM_PLUGINS={vllm_plugins!r} does not list vllm_patches, so "
            "vLLM will not load the plugin)")


def autopatch_disabled() -> str:
    return "Auto-patching: off (VLLM_PATCHES=none)"


def autopatch_on(selection) -> str:
    chosen = "every applicable patch" if selection is None else ", ".join(selection)
    return (f"Auto-patching: on (vLLM plugin installed): every vLLM process here applies "
            f"{chosen} as it starts; prove it with VLLM_PATCHES_REPORT")


def next_apply_covered(patch_id: str) -> str:
    return (f"nothing for vLLM processes: the plugin applies it at start-up; to write it into "
            f"the files instead: vllm-patches apply {patch_id}")
