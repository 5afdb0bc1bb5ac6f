"""Edit a patch's ``patch.toml`` in place, keeping its comments and layout (tomlkit).

``write_survey`` puts what ``catalog fingerprint`` found into the file: each
wrap's ``pre-fix`` and ``fixed-upstream`` lists (edited in place: the entries
and comments that stay keep their place), its ``[targets.wraps.seen]`` table
(data: rewritten whole), ``affected``, ``applied-upstream`` and
``last-update``. A trailing comment of a list is rewritten only when it is a
TODO or a list of releases, as ``catalog new`` and the catalogue write them;
the author's own comments stay. The new file replaces the old one atomically,
and only when the patch then loads (``catalog.load_patch``); otherwise the old
bytes stay and a ``FingerprintError`` says why.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import tomlkit
from packaging.version import Version

from vllm_patches.core.catalog_files import read_catalog_file
from vllm_patches.core.files import write_atomic
from vllm_patches.core.catalog import CatalogError, load_patch
from vllm_patches.authoring.fingerprint import FingerprintError, Survey, WrapResult

# The line ``catalog new`` writes for a fix not upstream yet; ``write_survey`` replaces it.
APPLIED_UPSTREAM_TODO = ('# applied-upstream = "TODO"  # the first vLLM release with the fix: '
                         'catalog fingerprint --fixed-in RELEASE writes it')
_APPLIED_TODO_LINE = re.compile(r'^# applied-upstream = "TODO".*$', re.MULTILINE)
_RELEASE_LIST = re.compile(r"^[\d.,\s\-]*$")  # "0.17.0-0.26.0", "0.21.0, 0.22.0"


def write_survey(survey: Survey, *, today: datetime.date | None = None,
                 dry_run: bool = False) -> bool:
    """Write ``survey`` into the patch's patch.toml; True when the file changed (or, with
    ``dry_run``, would change)."""
    draft = survey.draft
    if not survey.changes:
        return False
    text = draft.text
    if survey.applied_upstream is not None and "applied-upstream" not in _top_keys(text):
        text = _APPLIED_TODO_LINE.sub(f'applied-upstream = "{survey.applied_upstream}"', text,
                                      count=1)
    doc = tomlkit.parse(text)
    if survey.applied_upstream is not None and "applied-upstream" not in doc:
        doc = _with_key_after(doc, "bug", "applied-upstream", survey.applied_upstream,
                              tomlkit.document())
    order = _release_order(survey)
    for result in survey.wraps:
        _write_wrap(doc["targets"][result.draft.target]["wraps"], result.draft.index, result,
                    order)
    if survey.affected is not None and survey.affected != draft.affected:
        doc["affected"] = survey.affected
        _drop_todo_comment(doc["affected"])
    if survey.applied_upstream is not None and doc["applied-upstream"] != \
            survey.applied_upstream:
        doc["applied-upstream"] = survey.applied_upstream
    doc["last-update"] = (today or datetime.date.today()).isoformat()
    new = tomlkit.dumps(doc).rstrip("\n") + "\n"
    if dry_run:
        return True
    _replace_checked(draft.path, draft.text, new)
    return True


def _top_keys(text: str) -> set[str]:
    return set(tomlkit.parse(text).keys())


def _release_order(survey: Survey) -> list[Version]:
    """Every release known to the survey, oldest first: what 'a run of releases' means in
    the comments."""
    versions = {Version(v) for w in survey.wraps for vs in w.seen.values() for v in vs}
    versions |= {Version(r.observation.version) for r in survey.rows
                 if r.observation.version is not None}
    return sorted(versions)


def _with_key_after(container, anchor: str, key: str, value, fresh):
    """``fresh`` (an empty document or table) filled with ``container``'s entries and
    ``key = value`` right after ``anchor`` (after the last entry when there is no
    ``anchor``). tomlkit has no public insert-at (its private ``_insert_after`` went away
    in 0.15): rebuilding through the public ``body`` and ``add`` keeps every other entry,
    comment and blank line where it was."""
    body = list(container.body)
    keys = [k.key if k is not None else None for k, _ in body]
    at = keys.index(anchor) if anchor in keys else len(body) - 1
    for i, (k, item) in enumerate(body):
        if k is None:
            fresh.add(item)
        else:
            fresh.add(k, item)
        if i == at:
            fresh.add(key, value)
    if not body:
        fresh.add(key, value)
    return fresh


def _write_wrap(wraps, index: int, result: WrapResult, order: list[Version]) -> None:
    d = result.draft
    _write_list(wraps, index, "pre-fix", list(d.pre_fix), result.pre_fix, result, order,
                after="kind")
    _write_list(wraps, index, "fixed-upstream", list(d.fixed), result.fixed, result, order,
                after="pre-fix")
    table = wraps[index]
    seen = tomlkit.table()
    for fp, versions in result.seen.items():
        seen.add(fp, versions)
    seen.add(tomlkit.nl())
    if result.seen:
        table["seen"] = seen
    elif "seen" in table:
        del table["seen"]


def _write_list(wraps, index: int, key: str, old: list[str], new: list[str],
                result: WrapResult, order: list[Version], after: str) -> None:
    table = wraps[index]
    if old == new and (key in table or not new):
        return
    if not new:
        if key in table:
            del table[key]
        return
    if key in table:
        array = table[key]
        comment = array.trivia.comment.lstrip("#").strip()
        del array[:]
        array.extend(new)
    else:
        array = tomlkit.array()
        array.extend(new)
        comment = ""
        anchor = after if after in table else "name"
        new_table = _with_key_after(table.value, anchor, key, array, tomlkit.table())
        del wraps[index]  # an array of tables has no item assignment before tomlkit 0.15
        wraps.insert(index, new_table)
        array = wraps[index][key]
    if not comment or comment.upper().startswith("TODO") or _RELEASE_LIST.match(comment):
        array.comment(_runs(new, result, order))
        array.trivia.comment_ws = "  "


def _runs(fingerprints: list[str], result: WrapResult, order: list[Version]) -> str:
    """The releases each fingerprint was seen in, as runs: ``0.17.0-0.26.0, 0.29.0``."""
    parts = []
    for fp in fingerprints:
        versions = sorted(Version(v) for v in result.seen.get(fp, ()))
        if not versions:
            parts.append("not seen in a release")
            continue
        runs: list[list[Version]] = []
        for v in versions:
            if runs and order.index(v) == order.index(runs[-1][-1]) + 1:
                runs[-1].append(v)
            else:
                runs.append([v])
        parts.append(", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs))
    return ", ".join(parts)


def _drop_todo_comment(item) -> None:
    if item.trivia.comment.lstrip("#").strip().upper().startswith("TODO"):
        item.trivia.comment = ""
        item.trivia.comment_ws = ""


def _replace_checked(path: Path, old: str, new: str) -> None:
    """Put ``new`` in place of ``path`` atomically; put ``old`` back unless it loads."""
    try:
        now = read_catalog_file(path)
    except (OSError, UnicodeDecodeError):
        now = None
    if now != old:
        raise FingerprintError(_changed_meanwhile(path))
    _replace(path, new)
    try:
        load_patch(path.parent)
    except CatalogError as exc:
        _replace(path, old)
        raise FingerprintError(_would_not_load(path, exc)) from None


def _replace(path: Path, text: str) -> None:
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise FingerprintError(_unwritable(path, exc)) from None


# Messages -----------------------------------------------------------------------
def _changed_meanwhile(path: Path) -> str:
    return f"{path} changed while it was being fingerprinted; nothing was written: run again."


def _would_not_load(path: Path, exc: CatalogError) -> str:
    return (f"{path} was left as it was: with the new fingerprints the patch would not load "
            f"({exc})")


def _unwritable(path: Path, exc: OSError) -> str:
    return f"Cannot write {path}: {exc.strerror or exc}; it was left as it was."
