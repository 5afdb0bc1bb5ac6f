"""Whose file is this: the one rule for a file that proves something (the report).

A file is evidence only when nobody but this user (or root) could have written it:
owned by this user or root, not writable by other users (nor by a group this process
is not in), and in a folder where other users cannot replace it (a folder they can
write is fine only when it is sticky, as ``/tmp`` is). ``files.read_untrusted`` reads
evidence by this rule and ``runtime.reportline`` writes the report by it, so that the
writer appends exactly where the reader will believe it.

Imported by the report's writer at every process start where ``VLLM_PATCHES_REPORT`` is
set, so it imports only ``os`` and ``stat`` (both loaded by the interpreter already).
"""

import os
import stat


def not_ours(path: str, st) -> str:
    """Why the file ``path`` (its ``os.stat_result`` ``st``) is not evidence, as words for a
    sentence ('owned by another user (uid 1000)'), or '' when it is."""
    return file_not_ours(st) or folder_not_ours(path)


def file_not_ours(st) -> str:
    """Why a file of status ``st`` could have been written by another user, or ''."""
    if st.st_uid not in (os.geteuid(), 0):
        return f"owned by another user (uid {st.st_uid})"
    if _others_can_write(st):
        return "writable by other users"
    return ""


def folder_not_ours(path: str) -> str:
    """Why other users could replace the file ``path`` in its folder, or ''."""
    try:
        fst = os.stat(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return ""
    if fst.st_mode & stat.S_ISVTX:  # sticky, as /tmp: only the file's owner can replace it
        return ""
    if fst.st_uid not in (os.geteuid(), 0) or _others_can_write(fst):
        return "in a folder where other users can replace it"
    return ""


def _others_can_write(st) -> bool:
    return bool(st.st_mode & stat.S_IWOTH
                or (st.st_mode & stat.S_IWGRP and st.st_gid != os.getegid()))
