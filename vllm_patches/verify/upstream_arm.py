"""One arm of a patch's upstream tests: vLLM's own tests, run by pytest in a process of its own.

``python -m vllm_patches.verify.upstream_arm ARM PLAN_JSON`` runs pytest, in this process,
once per entry of the plan (a list of ``{"patch", "part", "staged", "sdist", "ini",
"tests"}``: the tests, paths or node ids under ``sdist``, the folder that holds the
``tests/`` of a vLLM sdist; ``staged``: the same without tests/conftest.py, where they run
first, ``run_tests``; ``ini``: the empty pytest configuration that keeps pytest from
reading any other) against the vLLM on ``sys.path``, in turn, and prints one JSON line per
entry as it ends: ``{"arm", "patch", "part", "tests": [{"id", "outcome", "why"}],
"applied"}`` (``"error"`` when pytest could not run). vLLM is imported once for all.

- ``control``: vLLM as it is (``VLLM_PATCHES=none`` in the environment);
- ``patched``: each entry's fix put in by the plugin's import hook, alone and strict, as
  ``check_arm`` does, before its tests run, and taken out after them; ``applied`` says
  whether it was in place when its tests ended (a run that never imported the patched
  module proves nothing about the fix). A fix that does not come out cleanly
  (``"left_in"``) ends the process there; the caller runs the entries after it alone.

The tests run offline: the Hugging Face libraries are told so by the environment the
caller gives, and every connection to another host is refused here
(``NetworkRefused``), so that a test that needs the network or a model download fails
the same way in both arms, and ``outcome_of`` files it as skipped, with its reason, never
as passed. A test that needs a GPU there is not is skipped the same way.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import os
import re
import socket
import sys

from vllm_patches.core.words import Arm, Word
from vllm_patches.verify import messages

NETWORK_REFUSED = "vllm-patches refused a network connection during vLLM's tests"

# What a test's failure says when it needed what an offline, CPU-only run lacks.
NEEDS_NETWORK = (NETWORK_REFUSED, "OfflineModeIsEnabled", "LocalEntryNotFoundError",
                 "offline mode is enabled", "outgoing traffic has been disabled",
                 "couldn't connect to 'https://huggingface.co'",
                 "Cannot find the requested files in the local cache",
                 "HF_HUB_OFFLINE")
NEEDS_GPU = ("Torch not compiled with CUDA enabled", "No CUDA GPUs are available",
             "Found no NVIDIA driver", "CUDA driver initialization failed",
             "no CUDA-capable device")


class TestOutcome(Word):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # skipped by the test, or needs the network, a model or a GPU
    ERROR = "error"  # could not be collected, or its fixture failed


class NetworkRefused(OSError):
    """A connection to a host other than this one, during an upstream test."""


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in tuple(Arm):
        print("usage: python -m vllm_patches.verify.upstream_arm control|patched PLAN_JSON",
              file=sys.stderr)
        return 2
    arm, plan = Arm(argv[0]), json.loads(argv[1])
    refuse_the_network()
    for entry in plan:
        line, clean = run_entry(arm, entry)
        print(json.dumps(line), flush=True)
        if not clean:
            break  # a fix that did not come out: the caller runs the rest alone
    return 0


def run_entry(arm: str, entry: dict) -> tuple[dict, bool]:
    """One patch's part (``entry``: patch, part, staged, sdist, tests) in this process: its
    line, and whether the process is still fit for the next (the fix came out again)."""
    patch_id = entry["patch"]
    line: dict[str, object] = {"arm": arm, "patch": patch_id, "part": entry["part"]}
    try:
        if arm == Arm.PATCHED:
            from vllm_patches.verify.check_arm import _select_alone

            _select_alone(patch_id)
        _import_targets(patch_id)
        line["tests"] = [{"id": test_id, "outcome": str(outcome), "why": why}
                         for test_id, (outcome, why) in run_tests(
                             entry["staged"], entry["sdist"], entry["ini"],
                             entry["tests"]).items()]
        if arm == Arm.PATCHED:
            from vllm_patches.runtime import patcher as runtime

            line["applied"] = runtime.is_applied(patch_id)
    except BaseException as exc:  # the parent reports it; the process must still print
        line["error"] = f"{type(exc).__name__}: {exc}"
    if arm != Arm.PATCHED:
        return line, True
    from vllm_patches.verify.check_arm import _take_out

    try:
        _, left = _take_out(patch_id)
    except BaseException as exc:
        left = [f"{type(exc).__name__}: {exc}"]
    if left:
        line["left_in"] = left
    return line, not left


def _import_targets(patch_id: str) -> None:
    """Import the patch's target modules before its tests, in both arms: in a vLLM server
    all of them are imported, so a fix whose targets span modules is in before a request
    comes; a test that imports one of them alone would otherwise run it unpatched. A
    module that cannot be imported here fails the tests that need it, as it would."""
    import importlib

    from vllm_patches.core.catalog import get_patch

    for target in get_patch(patch_id).targets:
        try:
            importlib.import_module(target.module)
        except Exception:
            continue


def run_tests(staged: str, sdist: str, ini: str, tests: list[str]) -> dict[str, tuple]:
    """Each test's outcome. First from ``staged`` (the sdist's tests/ without
    tests/conftest.py); then the tests that asked for a fixture nothing there defines run
    again from ``sdist`` itself, its tests/conftest.py with them, where that conftest can be
    imported here (vLLM's test dependencies installed); where not, they are skipped, and
    the reason says which fixtures and why."""
    found, _ = run_pytest(staged, ini, tests)
    wanting = {test_id: _FIXTURE.search(why).group(1) for test_id, (outcome, why)
               in found.items() if outcome == TestOutcome.ERROR and _FIXTURE.search(why)}
    if not wanting:
        return found
    again, problem = run_pytest(sdist, ini, list(wanting))
    for test_id, fixture in wanting.items():
        if problem or test_id not in again:
            found[test_id] = (TestOutcome.SKIPPED, messages.upstream_needs_root_conftest(
                fixture, problem or "the test was not found there"))
        else:
            found[test_id] = again[test_id]
    return found


_FIXTURE = re.compile(r"fixture '([^']+)' not found")
# A test that fails for want of a package vLLM can use (a structured-output backend, say)
# fails for this machine, not for the bug: in the control it would pass for a bug shown.
_MISSING_PACKAGE = re.compile(r"ModuleNotFoundError: No module named '([^']+)'")


def run_pytest(root: str, ini: str, tests: list[str]) -> tuple[dict[str, tuple], str]:
    """(each test's outcome, why pytest could not start: a conftest that cannot be imported,
    say; "" when it ran). Pytest runs here, its own output kept from stdout (which carries
    the one JSON line) and written to stderr after."""
    import pytest

    os.chdir(root)
    for name in [m for m in sys.modules if m == "tests" or m.startswith("tests.")]:
        del sys.modules[name]  # a ``tests`` package imported before is not this folder's
    collector = Collector()
    args = ["-c", ini, "--rootdir", root, "--confcutdir", root, "-p", "no:cacheprovider",
            "-q", "-o", "addopts=", "-W", "ignore::pytest.PytestUnknownMarkWarning", *tests]
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        code = pytest.main(args, plugins=[collector])
    sys.stderr.write(output.getvalue())
    problem = ""
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR):
        problem = _first_error(output.getvalue()) or f"pytest exited with {code}"
    return collector.found, problem


def _first_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln[1:].strip() for ln in lines if ln.startswith("E ")]
    return (errors[0] if errors else lines[0] if lines else "")[:300]


class Collector:
    """pytest's reports, one outcome per test (and per test module that failed to load)."""

    def __init__(self) -> None:
        self.found: dict[str, tuple[TestOutcome, str]] = {}

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.found[report.nodeid or "."] = (TestOutcome.ERROR,
                                                "cannot be collected here: " + _last_line(report))

    def pytest_runtest_logreport(self, report) -> None:
        before = self.found.get(report.nodeid)
        if before is not None and before[0] != TestOutcome.PASSED:
            return  # the first thing that went wrong is the test's outcome
        if report.when == "setup" and report.passed:
            return
        if report.when == "teardown" and not report.failed:
            return
        self.found[report.nodeid] = outcome_of(report)


def outcome_of(report) -> tuple[TestOutcome, str]:
    """One report's outcome and why (a failure for want of the network or a GPU is a skip)."""
    if report.skipped:
        if hasattr(report, "wasxfail"):
            return TestOutcome.SKIPPED, f"xfail: {report.wasxfail}"
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else ""
        return TestOutcome.SKIPPED, str(reason).removeprefix("Skipped: ")
    if report.passed:
        return TestOutcome.PASSED, ""
    text = report.longreprtext or ""
    missing = _MISSING_PACKAGE.search(text)
    if missing and missing.group(1).split(".")[0] not in ("vllm", "tests"):
        return TestOutcome.SKIPPED, f"needs the package {missing.group(1).split('.')[0]} " \
                                    "(not installed here)"
    if any(sign in text for sign in NEEDS_NETWORK):
        return TestOutcome.SKIPPED, "needs the network or a model download (run offline)"
    if any(sign in text for sign in NEEDS_GPU):
        return TestOutcome.SKIPPED, "needs a GPU"
    if report.when != "call":
        return TestOutcome.ERROR, f"{report.when}: {_last_line(report)}"
    return TestOutcome.FAILED, _last_line(report)


def _last_line(report) -> str:
    """The line of a failure that says what went wrong (pytest's ``E`` lines, else the last)."""
    lines = [ln.strip() for ln in (report.longreprtext or "").splitlines() if ln.strip()]
    errors = [ln[1:].strip() for ln in lines if ln.startswith("E ")]
    text = errors[0] if errors else (lines[-1] if lines else "")
    return text[:300]


def refuse_the_network() -> None:
    """Every connection to another host fails with ``NetworkRefused``; this host's work."""
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def allowed(address) -> bool:
        if not isinstance(address, tuple) or not address:  # a Unix socket
            return True
        host = str(address[0])
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False

    def connect(self, address):
        if not allowed(address):
            raise NetworkRefused(f"{NETWORK_REFUSED}: {address!r}")
        return original_connect(self, address)

    def connect_ex(self, address):
        if not allowed(address):
            raise NetworkRefused(f"{NETWORK_REFUSED}: {address!r}")
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
