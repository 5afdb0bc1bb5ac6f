"""The check kit: what a patch's ``check.py`` needs besides its bug.

A check is a ``run()`` that calls vLLM's real code and returns a ``Finding``::

    from vllm_patches.verify import kit

    DEVICE = "cpu"

    def run() -> kit.Finding:
        from vllm.sampling_params import SamplingParams
        said = kit.attempt(SamplingParams, max_tokens=-1)
        return kit.Finding(said.accepted, f"max_tokens=-1 {said}")

- ``Finding(bug, detail)``: what ``run()`` returns (a dict ``{"bug", "detail"}`` still
  works); ``as_finding`` is the runner's check of it.
- ``attempt(fn, ...)``: ``Accepted(value)`` or ``Rejected(error, message)``, whether vLLM
  took the input or refused it with a validation error.
- ``tiny_model()``: a tiny Llama (config, tokenizer; weights if asked) in a temporary
  folder, the process offline; ``write_tiny_model(DIR)`` keeps it; ``model_config(model)``
  is vLLM's ``ModelConfig`` over it.
- ``stand_in_for_missing()``: inert modules for the packages vLLM imports at load and the
  check never calls (the structured-output backends, diskcache), where not installed;
  ``model_config_stand_in()`` where only a few fields of a ModelConfig are read.
- ``in_child(code)``: how code ends in a child process (for a call that would crash this
  one): returned, raised, killed by a signal.
- ``answered(status, body)``: a server's answer to a check's ``request(post)``, as (HTTP
  status, "served" or the error message).
- ``tiny_scheduler(model, ...)`` and ``feed_back(scheduler, output)``: vLLM's real v1
  ``Scheduler`` over a small full-attention KV cache, and one step's model output fed back.

Nothing here imports vLLM at import time: a check imports vLLM inside ``run()``, after the
verifier has chosen the tree (and armed the fix), and so do these helpers.
"""

from vllm_patches.verify.kit.model import (
    OFFLINE,
    TinyModel,
    offline,
    tiny_model,
    write_tiny_model,
)
from vllm_patches.verify.kit.outcome import (
    Accepted,
    BadFinding,
    Finding,
    Rejected,
    answered,
    as_finding,
    attempt,
    in_child,
    validation_errors,
)
from vllm_patches.verify.kit.scheduler import feed_back, model_config, tiny_scheduler
from vllm_patches.verify.kit.stand_ins import model_config_stand_in, stand_in_for_missing

__all__ = [
    "OFFLINE",
    "Accepted",
    "BadFinding",
    "Finding",
    "Rejected",
    "TinyModel",
    "answered",
    "as_finding",
    "attempt",
    "feed_back",
    "in_child",
    "model_config",
    "model_config_stand_in",
    "offline",
    "stand_in_for_missing",
    "tiny_model",
    "tiny_scheduler",
    "validation_errors",
    "write_tiny_model",
]
