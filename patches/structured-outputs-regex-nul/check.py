"""Behaviour check of structured-outputs-regex-nul: vLLM's own request validation.

A request whose ``structured_outputs.regex`` holds a NUL byte goes through
``SamplingParams.verify``, what the front end runs on every request, under the
backend "xgrammar" and the default "auto", and through vLLM's
``validate_xgrammar_grammar`` itself. The grammar compiler's entry point that
this validation calls, ``xgr.Grammar.from_regex`` in vLLM's ``backend_xgrammar``
module, is replaced for the check by a recorder that keeps the patterns it is
given and returns: real xgrammar crashes the process (SIGSEGV) on a NUL, so it
is never called in this process. Unfixed, the NUL pattern reaches the recorder
(and validation accepts it); fixed, each path refuses it with an error naming
NUL (VLLMValidationError from ``verify``, as upstream: a ValueError up to
0.26.0; ValueError from ``validate_xgrammar_grammar``) and the recorder sees
nothing. A regex without NUL must still be accepted and reach xgrammar,
patched or not.

Where xgrammar is installed, what it does with the pattern that reached it is
shown in a child process (its exit status), never in this one. Where it is not
installed (nor another grammar library that vLLM's structured-output modules
import, or, up to 0.19.1, diskcache), an inert stand-in (any use of it raises)
lets vLLM's modules import. The tokenizer is only tested for None on this
path and the model config is read for a few plain fields, so a plain object and
a namespace stand for them (real ones need a download).
"""

DEVICE = "cpu"

NUL_REGEX = "\x00ab"  # a leading NUL: xgrammar segfaults (a later one truncates the pattern)
PLAIN_REGEX = "[a-z]+"


def _inert_module(name: str):
    """A module for an optional library that is not installed here: importing and
    naming its attributes work (vLLM's module bodies do that), using them raises."""
    import importlib.machinery
    import types

    class Absent:
        def __init__(self, *args, **kwargs):
            raise RuntimeError(f"{name} is not installed here (check stand-in used)")

    def getattr_(attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Absent

    module = types.ModuleType(name)
    module.__getattr__ = getattr_
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__path__ = []  # a package: ``name.sub`` imports resolve through sys.modules
    return module


# The libraries that vLLM's structured-output modules import when they are
# imported, with the submodules named: the grammar libraries (through LazyLoader,
# which their class bodies trigger) and diskcache (outlines' cache, imported by
# structured_output/utils.py up to vLLM 0.19.1).
LIBRARIES = {
    "llguidance": ("llguidance.hf", "llguidance.torch"),
    "xgrammar": (),
    "lmformatenforcer": ("lmformatenforcer.integrations", "lmformatenforcer.integrations.vllm"),
    "outlines_core": ("outlines_core.json_schema",),
    "diskcache": (),
}


def _stand_in_for_absent_libraries() -> list[str]:
    """Put an inert module in place of each of LIBRARIES not installed here; the
    ones stood in for."""
    import importlib.util
    import sys

    absent = [p for p in LIBRARIES
              if p not in sys.modules and importlib.util.find_spec(p) is None]
    for package in absent:
        for name in (package, *LIBRARIES[package]):
            sys.modules[name] = _inert_module(name)
    return absent


def _model_config():
    import types

    return types.SimpleNamespace(max_logprobs=20, logits_processors=None,
                                 is_diffusion=False, get_vocab_size=lambda: 32000)


def _xgrammar_in_child(pattern: str, absent: list[str]) -> str:
    """What real xgrammar does with ``pattern``, in a child process (it may crash)."""
    import signal
    import subprocess
    import sys

    if "xgrammar" in absent:
        return "xgrammar is not installed here: not run on it"
    code = f"import xgrammar\nxgrammar.Grammar.from_regex({pattern!r})\nprint('ok')"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return "real xgrammar did not return in 120 s"
    if done.returncode < 0:
        return f"real xgrammar killed the process with {signal.Signals(-done.returncode).name}"
    if done.returncode:
        tail = (done.stderr.strip().splitlines() or [""])[-1]
        return f"real xgrammar raised (exit {done.returncode}): {tail}"
    return "real xgrammar accepted it"


def run() -> dict:
    import types

    absent = _stand_in_for_absent_libraries()

    from vllm.config import StructuredOutputsConfig
    from vllm.exceptions import (
        VLLMValidationError,  # a ValueError up to 0.26, not since
    )
    from vllm.sampling_params import SamplingParams, StructuredOutputsParams
    from vllm.v1.structured_output import backend_xgrammar

    reached: list[str] = []

    class Grammar:
        @staticmethod
        def from_regex(pattern, *args, **kwargs):
            reached.append(pattern)
            return object()

    def attempt(call) -> tuple[str, bool]:
        """(what validation said, whether the NUL pattern reached xgrammar)"""
        before = len(reached)
        try:
            call()
            said = "accepted"
        except (ValueError, VLLMValidationError) as exc:
            said = f"rejected ({type(exc).__name__}): {exc}"
        return said, any("\x00" in p for p in reached[before:])

    def verify(regex: str, backend: str):
        params = SamplingParams(max_tokens=8,
                                structured_outputs=StructuredOutputsParams(regex=regex))
        return lambda: params.verify(_model_config(), None,
                                     StructuredOutputsConfig(backend=backend), object())

    def direct(regex: str):
        params = SamplingParams(max_tokens=8,
                                structured_outputs=StructuredOutputsParams(regex=regex))
        return lambda: backend_xgrammar.validate_xgrammar_grammar(params)

    saved = backend_xgrammar.__dict__["xgr"]
    backend_xgrammar.xgr = types.SimpleNamespace(Grammar=Grammar)
    try:
        nul = {
            "verify, backend xgrammar": attempt(verify(NUL_REGEX, "xgrammar")),
            "verify, backend auto": attempt(verify(NUL_REGEX, "auto")),
            "validate_xgrammar_grammar": attempt(direct(NUL_REGEX)),
        }
        before = len(reached)
        plain, _ = attempt(verify(PLAIN_REGEX, "auto"))
        plain_reached = PLAIN_REGEX in reached[before:]
    finally:
        backend_xgrammar.xgr = saved

    bad = [path for path, (said, hit) in nul.items()
           if hit or not (said.startswith("rejected") and "NUL" in said)]
    plain_ok = plain == "accepted" and plain_reached
    bug = bool(bad) or not plain_ok
    parts = [f"{path}: {said}{'; NUL pattern reached xgr.Grammar.from_regex' if hit else ''}"
             for path, (said, hit) in nul.items()]
    if any(hit for _, hit in nul.values()):
        parts.append(_xgrammar_in_child(NUL_REGEX, absent))
    parts.append(f"regex {PLAIN_REGEX!r} {plain}"
                 f"{' and reached xgrammar' if plain_reached else ', never reached xgrammar'}")
    return {"bug": bug, "detail": " | ".join(parts)}
