"""What a check says (a ``Finding``), and what one vLLM call did with its input
(``Accepted`` or ``Rejected``), as types instead of dicts and strings to match.

Most fixes make vLLM refuse input it used to take: a check calls the function with
``attempt(fn, ...)`` and reads ``.accepted`` (the exception's type and message are kept
for the detail line; ``str()`` of either outcome is its short description).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from vllm_patches.verify import messages


class BadFinding(TypeError):
    """A check's ``run()`` (or ``request()``) returned something that is not a finding."""


@dataclass(frozen=True)
class Finding:
    """A check's answer: whether the bug shows here, and what it saw (one line)."""

    bug: bool
    detail: str = ""
    data: object = None  # what the check measured (JSON-able), kept in the JSON report

    def __post_init__(self) -> None:
        if not isinstance(self.bug, bool):
            raise BadFinding(messages.finding_bug_not_bool(self.bug))


def as_finding(value: object, source: str = "run()") -> Finding:
    """``value`` as a Finding: a Finding, or a dict ``{"bug": bool, "detail": str}`` (what
    checks wrote before the kit, and may still); anything else is a BadFinding naming
    ``source``."""
    if isinstance(value, Finding):
        return value
    if isinstance(value, dict) and isinstance(value.get("bug"), bool):
        return Finding(value["bug"], str(value.get("detail", "")), value.get("data"))
    raise BadFinding(messages.bad_finding(source, value))


@dataclass(frozen=True)
class Accepted:
    """The call returned (``value``: what it returned)."""

    value: object = None
    accepted: ClassVar[bool] = True

    def __str__(self) -> str:
        return "accepted"


@dataclass(frozen=True)
class Rejected:
    """The call raised one of the errors that mean "refused" (``error``: its type)."""

    error: type[BaseException]
    message: str
    accepted: ClassVar[bool] = False

    def __str__(self) -> str:
        return f"rejected ({self.error.__name__}: {self.message})"


def validation_errors() -> tuple[type[BaseException], ...]:
    """The errors vLLM refuses input with: ValueError, and VLLMValidationError (a
    ValueError up to 0.26, not since)."""
    try:
        from vllm.exceptions import VLLMValidationError
    except ImportError:  # an older vLLM, or none: ValueError is all
        return (ValueError,)
    return (ValueError, VLLMValidationError)


def attempt(fn: Callable[..., object], *args,
            rejects: tuple[type[BaseException], ...] | None = None,
            **kwargs) -> Accepted | Rejected:
    """Call ``fn(*args, **kwargs)``: Accepted with what it returned, or Rejected when it
    raised one of ``rejects`` (vLLM's validation errors unless told); any other error
    propagates (the check could not run)."""
    try:
        return Accepted(fn(*args, **kwargs))
    except rejects or validation_errors() as exc:
        return Rejected(type(exc), str(exc))


def answered(status: int, body: dict) -> tuple[int, str]:
    """A server's answer to a check's ``request()`` as (HTTP status, what it said): "served"
    for a 200, else its error message."""
    if status == 200:
        return status, "served"
    error = body.get("error") if isinstance(body, dict) else None
    return status, str(error.get("message", "") if isinstance(error, dict) else body or "")


def in_child(code: str, timeout: float = 120) -> str:
    """How Python code ends in a child process of this interpreter (for a call that may
    crash the process: a check must never make it in its own): "returned", "raised ...",
    "killed by SIGNAL" or "did not return in N s"."""
    import signal
    import subprocess
    import sys

    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"did not return in {timeout:g} s"
    if done.returncode < 0:
        return f"killed by {signal.Signals(-done.returncode).name}"
    if done.returncode:
        return f"raised (exit {done.returncode}): {(done.stderr.strip().splitlines() or [''])[-1]}"
    return "returned"
