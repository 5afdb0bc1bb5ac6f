"""The backport commit's message: git reads its trailers back."""

from __future__ import annotations

import subprocess

from vllm_patches import __version__
from vllm_patches.core.catalog import get_patch
from vllm_patches.core.commit_message import message, with_trailers

PATCH = get_patch("gemma4-mtp-stable-lm-head")


def parsed_trailers(text: str) -> list[str]:
    out = subprocess.run(["git", "interpret-trailers", "--parse"], input=text,
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def test_subject_body_and_trailers():
    text = message(PATCH, "acme/v0.22-prod", "0.22.1")
    subject, blank, *rest = text.splitlines()
    assert subject == f"[Backport] {PATCH.title}" and blank == ""
    assert all(len(line) <= 72 for line in rest)
    assert parsed_trailers(text) == [
        "Backport-of: vllm-project/vllm#43909",
        "Origin: https://github.com/vllm-project/vllm/pull/43909",
        "Applied-Upstream: 0.23.0",
        "Patch-id: gemma4-mtp-stable-lm-head",
        f"Applied-by: vllm-patches {__version__}",
    ]


def test_trailers_join_a_cherry_picks_x_line():
    picked = "[Bugfix] Fix it (#43909)\n\nBody.\n\n(cherry picked from commit abc1234)\n"
    text = with_trailers(picked, PATCH)
    assert "(cherry picked from commit abc1234)\nBackport-of:" in text
    assert parsed_trailers(text)[0] == "Backport-of: vllm-project/vllm#43909"


def test_trailers_get_their_own_paragraph_after_a_plain_message():
    text = with_trailers("Fix it (#43909)\n\nLast line of the body.", PATCH)
    assert "Last line of the body.\n\nBackport-of:" in text
    assert len(parsed_trailers(text)) == 5
