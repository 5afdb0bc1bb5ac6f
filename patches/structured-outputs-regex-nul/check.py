"""Behaviour check of structured-outputs-regex-nul: vLLM's own request validation.

A request whose ``structured_outputs.regex`` holds a NUL byte goes through
``InputProcessor._validate_params``, what the front end's ``process_inputs``
runs on every request (it runs ``SamplingParams.verify`` and so the
structured-outputs validation that picks the backend), under the backend
"xgrammar" and the default "auto", and through vLLM's
``validate_xgrammar_grammar`` itself. The grammar compiler's entry point that
this validation calls, ``xgr.Grammar.from_regex`` in vLLM's ``backend_xgrammar``
module, is replaced for the check by a recorder that keeps the patterns it is
given and returns: real xgrammar crashes the process (SIGSEGV) on a NUL, so it
is never called in this process. Unfixed, the NUL pattern reaches the recorder
(and validation accepts it); fixed, each path refuses it with an error naming
NUL (VLLMValidationError from ``_validate_params``, as upstream: a ValueError
up to 0.26.0; ValueError from ``validate_xgrammar_grammar``) and the recorder
sees nothing. A regex without NUL must still be accepted and reach xgrammar,
patched or not.

Where xgrammar is installed, what it does with the pattern that reached it is
shown in a child process (its exit status), never in this one. Where it is not
installed (nor another grammar library that vLLM's structured-output modules
import, or, up to 0.19.1, diskcache), an inert stand-in (any use of it raises)
lets vLLM's modules import. The InputProcessor is made without its
``__init__`` (which wants a VllmConfig, whose ModelConfig needs a model
download) and given the attributes ``_validate_params`` reads, as ``__init__``
sets them: a real StructuredOutputsConfig, no speculative config, a namespace
for the model config (read for a few plain fields) and a plain object for the
tokenizer (only tested for None on this path).
"""

DEVICE = "cpu"

NUL_REGEX = "\x00ab"  # a leading NUL: xgrammar segfaults (a later one truncates the pattern)
PLAIN_REGEX = "[a-z]+"


def _stand_in_for_absent_libraries() -> list[str]:
    """An inert module in place of each structured-output library (and diskcache) not
    installed here: vLLM's module bodies import and name them; using one raises. The ones
    stood in for."""
    from vllm_patches.verify.stand_ins import stand_in_for_missing

    return stand_in_for_missing(usable=False)


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


def _input_processor(input_processor_cls, backend: str):
    """An InputProcessor with what ``_validate_params`` reads, as ``__init__`` sets it."""
    import types

    from vllm.config import StructuredOutputsConfig

    proc = object.__new__(input_processor_cls)
    proc.model_config = _model_config()
    proc.speculative_config = None
    proc.structured_outputs_config = StructuredOutputsConfig(backend=backend)
    proc.use_v2_model_runner = False
    proc.vllm_config = types.SimpleNamespace(reasoning_config=None)
    tokenizer = object()
    if isinstance(getattr(input_processor_cls, "tokenizer", None), property):
        proc.renderer = types.SimpleNamespace(tokenizer=tokenizer)  # the property reads it
    else:
        proc.tokenizer = tokenizer
    return proc


def run() -> dict:
    import importlib
    import types

    absent = _stand_in_for_absent_libraries()

    from vllm.exceptions import (
        VLLMValidationError,  # a ValueError up to 0.26, not since
    )
    from vllm.sampling_params import SamplingParams, StructuredOutputsParams

    # backend_xgrammar before input_processor, whose import imports it: imported the
    # other way round, the plugin (vllm_patches/plugin.py, _due) applies the patch as
    # soon as backend_xgrammar's import ends, while input_processor is still half
    # imported and has no InputProcessor yet, and the strict patched arm fails
    # ("no class ...InputProcessor"); without strict mode the patch goes in when
    # input_processor's import ends, after a warning. A bug of the tool's, reported.
    backend_xgrammar = importlib.import_module("vllm.v1.structured_output.backend_xgrammar")
    from vllm.v1.engine.input_processor import InputProcessor

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

    def params(regex: str):
        return SamplingParams(max_tokens=8,
                              structured_outputs=StructuredOutputsParams(regex=regex))

    def validate_params(regex: str, backend: str):
        proc = _input_processor(InputProcessor, backend)
        request = params(regex)
        return lambda: proc._validate_params(request, ("generate",))

    def direct(regex: str):
        request = params(regex)
        return lambda: backend_xgrammar.validate_xgrammar_grammar(request)

    saved = backend_xgrammar.__dict__["xgr"]
    backend_xgrammar.xgr = types.SimpleNamespace(Grammar=Grammar)
    try:
        nul = {
            "InputProcessor._validate_params, backend xgrammar":
                attempt(validate_params(NUL_REGEX, "xgrammar")),
            "InputProcessor._validate_params, backend auto":
                attempt(validate_params(NUL_REGEX, "auto")),
            "validate_xgrammar_grammar": attempt(direct(NUL_REGEX)),
        }
        before = len(reached)
        plain, _ = attempt(validate_params(PLAIN_REGEX, "auto"))
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
    parts.append(f"regex {PLAIN_REGEX!r} through _validate_params (auto) {plain}"
                 f"{' and reached xgrammar' if plain_reached else ', never reached xgrammar'}")
    return {"bug": bug, "detail": " | ".join(parts)}


def request(post) -> dict:
    """The same bug through a running OpenAI server (the tiny model, served as ``tiny``):
    ``post(path, body) -> (HTTP status, JSON body)``, status 0 when the server dropped the
    connection. Unpatched, a regex with a NUL passes validation and reaches xgrammar (which
    segfaults the server where it is installed: status 0); fixed, it is a 400 naming the NUL.
    A plain regex must still be served by the fixed server."""
    status, body = post("/v1/completions", {"model": "tiny", "prompt": "hello",
                                            "max_tokens": 2,
                                            "structured_outputs": {"regex": "a\x00b"}})
    message = str(body.get("error", {}).get("message", "")) if status != 200 else "served"
    detail = f"regex 'a\\x00b' -> HTTP {status} {message[:160]!r}"
    if status != 400 or "NUL" not in message:
        return {"bug": True, "detail": detail}
    ok_status, _ = post("/v1/completions", {"model": "tiny", "prompt": "hello", "max_tokens": 2,
                                            "structured_outputs": {"regex": "[a-z]+"}})
    detail += f"; regex '[a-z]+' -> HTTP {ok_status}"
    return {"bug": ok_status != 200, "detail": detail}
