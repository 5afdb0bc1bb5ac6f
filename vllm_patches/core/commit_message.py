"""The message of a backport commit (and of an exported patch): subject, body, trailers.

The trailers carry the provenance, as ``git cherry-pick -x`` and DEP-3 do:
``Backport-of`` names the upstream PR, ``Origin`` where the fix comes from,
``Applied-Upstream`` the first release that ships it, ``Patch-id`` the
catalogue entry and ``Applied-by`` the tool and its version. They read back
with ``git interpret-trailers --parse``.
"""

from __future__ import annotations

import re
import textwrap

from vllm_patches._version import __version__
from vllm_patches.core.catalog import Patch
from vllm_patches.core.errors import VllmPatchesError

WIDTH = 72
# One line: a name without angle brackets, one space, an address in them without spaces.
_AUTHOR = re.compile(r"[^<>]*[^<>\s] <[^<>\s]+>")


class AuthorError(VllmPatchesError):
    """An author that is not one ``Name <email>`` line (it would inject mail headers)."""


def check_author(author: str) -> str:
    """``author`` when it is one ``Name <email>`` line; AuthorError otherwise.

    A line break of any kind (CR, LF, or what ``str.splitlines`` counts) or
    another control character would end the ``From:`` header and start others.
    """
    if any(ord(c) < 32 or ord(c) == 127 for c in author) or len(author.splitlines()) > 1 \
            or not _AUTHOR.fullmatch(author):
        raise AuthorError(_bad_author(author))
    return author


def _bad_author(author: str) -> str:
    return (f"--author {author!r} is not one 'Name <email>' line (such as "
            "'Jane Doe <jane@example.com>'); line breaks and control characters are refused.")


def subject(patch: Patch) -> str:
    return f"[Backport] {patch.title}"


def trailers(patch: Patch) -> list[tuple[str, str]]:
    rows = [("Backport-of", patch.upstream_pr), ("Origin", patch.origin)]
    if patch.applied_upstream is not None:
        rows.append(("Applied-Upstream", str(patch.applied_upstream)))
    rows += [("Patch-id", patch.id), ("Applied-by", f"vllm-patches {__version__}")]
    return rows


def trailer_block(patch: Patch) -> str:
    return "\n".join(f"{key}: {value}" for key, value in trailers(patch))


def body(patch: Patch, onto: str | None, version: object | None) -> str:
    """What the commit does and where it comes from, wrapped at 72 columns."""
    where = f" to {onto}" if onto else ""
    if version is not None:
        where += f" (vLLM {version})" if onto else f" for vLLM {version}"
    intro = (
        f"Backport of {patch.upstream_pr}{where}, written by vllm-patches from its "
        f"catalogued fix {patch.id}."
    )
    story = "\n\n".join(text for text in (patch.why, patch.how) if text)  # the bug, the fix
    paragraphs = [intro, *story.split("\n\n")]
    return "\n\n".join(textwrap.fill(p, WIDTH, break_on_hyphens=False) for p in paragraphs
                       if p)


def message(patch: Patch, onto: str | None = None, version: object | None = None) -> str:
    """The whole message: subject, blank line, body, blank line, trailers."""
    return f"{subject(patch)}\n\n{body(patch, onto, version)}\n\n{trailer_block(patch)}\n"


def with_trailers(existing: str, patch: Patch) -> str:
    """``existing`` (such as a cherry-picked commit's message) with our trailers appended.

    They join the last paragraph when it is ``-x``'s "(cherry picked from commit ...)"
    line, which git counts as part of the trailer block.
    """
    text = existing.rstrip("\n")
    last = text.rsplit("\n\n", 1)[-1]
    joiner = "\n" if last.startswith("(cherry picked from commit ") else "\n\n"
    return f"{text}{joiner}{trailer_block(patch)}\n"
