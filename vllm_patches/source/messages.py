"""What vllm-patches says about source mode: edits, transactions, records, diffs and exports.

Each sentence is a small factory named for the situation, next to the code that says it."""

from __future__ import annotations

from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from pathlib import Path



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


def source_escapes_tree(path: Path, root: Path) -> str:
    return (f"{path} leads outside the vLLM tree {root} (through a symlink or '..'); "
            "vllm-patches writes only inside the tree it was given.")


def source_read_only(path: Path) -> str:
    return (f"Cannot write {path} (read-only or permission denied); "
            "use the runtime hook instead, which patches vLLM in memory without writing files.")


def source_no_tree() -> str:
    return "vLLM is not installed here: give target, the folder that holds vllm/."


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
            f"or port the fix with vllm-patches backport {patch_id}")


def source_refused(patch_id: str, why: str) -> str:
    return f"{patch_id} refused: {why}"


def edit_no_end_below() -> str:
    return "the fix this one goes around has no end marker"


def source_cannot_lift(other_id: str, why: str) -> str:
    return f"{other_id}, whose fix goes around it, cannot be taken out first ({why})"


def source_rewrapped(over) -> str:
    ids = ", ".join(p.id for p in over)
    return f" ({ids} taken out and written back around it, in the declared order)"


def source_reverted_under(patch_id: str, files: list[str], over, dry_run: bool) -> str:
    ids = ", ".join(p.id for p in over)
    done = "would be reverted" if dry_run else "reverted"
    return (f"{patch_id} {done} in {', '.join(files)}: {ids} (whose fix went around it) "
            f"written back, so the files are as applying without {patch_id} writes them")


def source_skipped(patch_id: str, why: str) -> str:
    return f"{patch_id} skipped: {why}"


def source_skipped_modified(patch_id: str, why: str) -> str:
    return (f"{patch_id} not applied: {why}; the fix is missing "
            f"(review, then vllm-patches apply {patch_id} --force, or backport)")


def source_reverted(patch_id: str, files: list[str], forced: bool) -> str:
    how = " (forced: the fix's blocks taken out of the changed files)" if forced else ""
    return f"{patch_id} reverted in {', '.join(files)}: the original bytes are back{how}"


def source_would_revert(patch_id: str, files: list[str], forced: bool) -> str:
    how = " (forced: the fix's blocks taken out of the changed files)" if forced else ""
    return f"{patch_id} would be reverted in {', '.join(files)}{how}"


def source_not_applied(patch_id: str) -> str:
    return f"{patch_id} is not applied in source here; nothing to revert"


def source_record_stale(patch_id: str, would: bool = False) -> str:
    return (f"{patch_id}: the files already hold their original bytes again (pip reinstall?); "
            f"the stale record {'would be' if would else 'is'} dropped")


def source_record_dropped(patch_id: str, would: bool = False) -> str:
    return (f"{patch_id}: the record {'would be' if would else 'is'} dropped; the files hold "
            "no trace of the fix and are left as they are")


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
