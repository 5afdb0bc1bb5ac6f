"""``verify.kit.stand_ins``: inert modules for the backends a vLLM module imports at load and a
check never calls. Several checks share one process (``verify`` runs the CPU checks of a
release together), so what one check asked for must not change what the next one sees."""

from __future__ import annotations

import sys

import pytest

from vllm_patches.verify.kit import stand_ins

ABSENT = ("vllm_patches_absent_a", "vllm_patches_absent_b")


@pytest.fixture(autouse=True)
def clean():
    """Each test starts and ends with no stand-in finder and no stand-in module."""
    def wipe():
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, stand_ins._Finder)]
        for name in [n for n in sys.modules if n.split(".")[0] in ABSENT]:
            del sys.modules[name]
    wipe()
    yield
    wipe()


def test_a_missing_package_is_stood_in_and_an_installed_one_never_is():
    assert stand_ins.stand_in_for_missing((*ABSENT, "json")) == list(ABSENT)
    import json
    import vllm_patches_absent_a.sub as sub

    assert not isinstance(json, stand_ins.StandInModule)
    assert isinstance(sub, stand_ins.StandInModule)
    assert isinstance(sub.Grammar(1, key=2), sub.Grammar)  # any name, any arguments


def test_a_check_that_must_not_reach_the_package_gets_an_error_if_it_does():
    stand_ins.stand_in_for_missing(ABSENT, usable=False)
    import vllm_patches_absent_a

    with pytest.raises(RuntimeError, match="vllm_patches_absent_a is not installed here"):
        vllm_patches_absent_a.Compiler()


def test_a_later_check_in_the_same_process_is_told_the_names_and_gets_its_own_usable():
    assert stand_ins.stand_in_for_missing(ABSENT[:1]) == list(ABSENT[:1])
    import vllm_patches_absent_a

    made_before = vllm_patches_absent_a.Compiler  # a vLLM module took it at import
    # The next check asks for both, unusable: it is told both are stand-ins, and the class
    # made under the first check refuses too.
    assert stand_ins.stand_in_for_missing(ABSENT, usable=False) == list(ABSENT)
    with pytest.raises(RuntimeError):
        made_before()
    assert sum(isinstance(f, stand_ins._Finder) for f in sys.meta_path) == 1
    stand_ins.stand_in_for_missing(ABSENT, usable=True)
    assert isinstance(made_before(), made_before)
