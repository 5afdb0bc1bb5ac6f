"""The words users, reports and ``--json`` read (core.words): their values stay put."""

from __future__ import annotations

import json

import pytest

import vllm_patches.runtime as runtime
from vllm_patches.core.words import Arm, Mode, Outcome, Word

# What reports written by earlier releases and users' scripts read: never change a value.
OUTCOMES = {
    "APPLIED": "applied", "ALREADY_APPLIED": "already-applied", "SKIPPED": "skipped",
    "REFUSED": "refused", "REVERTED": "reverted", "NOT_APPLIED": "not-applied",
    "IN_SOURCE": "applied-in-source", "FAILED": "failed", "INHERITED": "inherited",
    "WOULD_APPLY": "would-apply", "WOULD_REVERT": "would-revert", "BLOCKED": "blocked",
    "CREATED": "created", "WOULD_CREATE": "would-create", "ALREADY_FIXED": "already-fixed",
    "ALREADY_BACKPORTED": "already-backported", "NOT_APPLICABLE": "not-applicable",
    "KEPT": "kept", "ABORTED": "aborted", "LEFT_ALONE": "left-alone",
}


def test_every_outcome_keeps_the_value_reports_and_scripts_read():
    assert {member.name: member.value for member in Outcome} == OUTCOMES


@pytest.mark.parametrize("member", [Outcome.IN_SOURCE, Mode.SOURCE, Arm.CONTROL])
def test_a_word_prints_serialises_and_compares_as_its_value(member: Word):
    assert str(member) == f"{member}" == member.value
    assert json.dumps({"w": member}) == json.dumps({"w": member.value})
    assert member == member.value and {member.value: 1}[member] == 1


def test_the_old_name_of_runtimes_result_still_works_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="runtime.Result"):
        assert runtime.Outcome is runtime.Result
