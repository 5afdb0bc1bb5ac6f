"""Behaviour check of structured-outputs-regex-nul: vLLM's own request validation.

A regex holding a NUL goes through a real InputProcessor's ``_validate_params`` (what
``process_inputs`` runs on every request) under the backends "xgrammar" and "auto",
through ``SamplingParams.verify`` called directly (backend "auto", the path of upstream's
regression test, which calls the structured-outputs validation itself), and through
``validate_xgrammar_grammar`` itself. xgrammar's ``Grammar.from_regex``, which they
call, is a recorder here: the real one segfaults on a NUL (where xgrammar is installed, a
child process shows it). Unfixed, the NUL pattern reaches the recorder; fixed, each path
refuses it, naming NUL, with upstream's types: VLLMValidationError on the request paths
(it exists in every release the patch affects), ValueError in the xgrammar guard. A plain
regex must still be accepted and reach it.
"""

from vllm_patches.verify import kit

DEVICE = "cpu"
NUL, PLAIN = "\x00ab", "[a-z]+"  # a leading NUL: xgrammar segfaults (a later one truncates)


class _Grammar:
    reached: list[str] = []

    @classmethod
    def from_regex(cls, pattern, *args, **kwargs):
        cls.reached.append(pattern)
        return object()


def run() -> kit.Finding:
    import importlib
    import types

    absent = kit.stand_in_for_missing(usable=False)  # imported at load; xgrammar recorded
    from vllm.config import DeviceConfig, StructuredOutputsConfig, VllmConfig
    from vllm.exceptions import VLLMValidationError
    from vllm.sampling_params import SamplingParams, StructuredOutputsParams
    from vllm.v1.engine.input_processor import InputProcessor

    xgr_backend = importlib.import_module("vllm.v1.structured_output.backend_xgrammar")

    def through(call, *args, regex=NUL) -> tuple[kit.Accepted | kit.Rejected, bool]:
        """What ``call`` said of a request with ``regex``, and whether it reached xgrammar."""
        before = len(_Grammar.reached)
        so = StructuredOutputsParams(regex=regex)
        said = kit.attempt(call, SamplingParams(max_tokens=8, structured_outputs=so), *args)
        return said, regex in _Grammar.reached[before:]

    with kit.tiny_model() as model:
        validate = {backend: InputProcessor(VllmConfig(
            model_config=kit.model_config(model), device_config=DeviceConfig(device="cpu"),
            structured_outputs_config=StructuredOutputsConfig(backend=backend)))._validate_params
            for backend in ("xgrammar", "auto")}
    saved, xgr_backend.xgr = xgr_backend.xgr, types.SimpleNamespace(Grammar=_Grammar)
    try:
        nul = {f"_validate_params, backend {backend}": through(call, ("generate",))
               for backend, call in validate.items()}
        nul["SamplingParams.verify, backend auto"] = through(
            lambda params: params.verify(kit.model_config_stand_in(), None,
                                         StructuredOutputsConfig(), object()))
        nul["validate_xgrammar_grammar"] = through(xgr_backend.validate_xgrammar_grammar)
        plain, plain_reached = through(validate["auto"], ("generate",), regex=PLAIN)
    finally:
        xgr_backend.xgr = saved
    expected = {path: ValueError if path == "validate_xgrammar_grammar" else VLLMValidationError
                for path in nul}
    refused = all(not hit and not said.accepted and "NUL" in said.message
                  and issubclass(said.error, expected[path])
                  for path, (said, hit) in nul.items())
    parts = [f"{path}: {said}{'; the NUL pattern reached xgrammar' if hit else ''}"
             for path, (said, hit) in nul.items()]
    if "xgrammar" not in absent and not refused:
        parts.append("real xgrammar on it: " + kit.in_child(
            f"import xgrammar\nxgrammar.Grammar.from_regex({NUL!r})"))
    parts.append(f"regex {PLAIN!r} (auto) {plain}, "
                 f"{'' if plain_reached else 'never '}reached xgrammar")
    return kit.Finding(not (refused and plain.accepted and plain_reached), " | ".join(parts))


def request(post) -> kit.Finding:
    """Through a running OpenAI server (the tiny model, as ``tiny``; status 0: the server
    dropped the connection): unpatched, a regex with a NUL reaches xgrammar (which segfaults
    the server where installed); fixed, a 400 naming the NUL. A plain regex must still be
    served by the fixed server."""
    def complete(regex: str) -> tuple[int, str]:
        return kit.answered(*post("/v1/completions", {
            "model": "tiny", "prompt": "hello", "max_tokens": 2,
            "structured_outputs": {"regex": regex}}))

    status, said = complete("a\x00b")
    detail = f"regex 'a\\x00b' -> HTTP {status} {said[:160]!r}"
    if status != 400 or "NUL" not in said:
        return kit.Finding(True, detail)
    plain, _ = complete("[a-z]+")
    return kit.Finding(plain != 200, f"{detail}; regex '[a-z]+' -> HTTP {plain}")
