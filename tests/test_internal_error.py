"""An error no code of ours turned into a sentence (a bug, or a dependency's new release that
changed what we call) is one sentence and exit 2 for users, the traceback on request."""

import pytest

from tests.helpers import run_python

# As a new packaging release without a name we import would be: status judges versions.
BROKEN = ("import sys, packaging.version as v; del v.InvalidVersion; "
          "sys.argv = ['vllm-patches', 'status', '--target', sys.argv[1]]; "
          "from vllm_patches.cli.main import main; main()")


@pytest.mark.slow
def test_a_dependency_that_changed_under_us_is_one_sentence(release):
    proc = run_python(["-c", BROKEN, str(release("0.22.1"))], check=False)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("vllm-patches: internal error: ImportError: ")
    assert "VLLM_PATCHES_DEBUG=1" in line and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_the_traceback_is_there_when_asked_for(release):
    proc = run_python(["-c", BROKEN, str(release("0.22.1"))], check=False,
                      VLLM_PATCHES_DEBUG="1")
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    assert "ImportError" in proc.stderr
