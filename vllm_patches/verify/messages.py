"""What vllm-patches says about the behaviour checks and the GPU verification.

Each sentence is a small factory named for the situation, next to the code that says it."""

from __future__ import annotations


# GPU verification: vllm-patches verify ----------------------------------------
def verify_no_vllm() -> str:
    return "vLLM is not installed here; install it, or give --target DIR for a vLLM tree."


def verify_no_mtp(version: object, module: str) -> str:
    return f"vLLM {version or '(version unknown)'} has no Gemma 4 MTP ({module} is missing), so there is nothing to verify."


def verify_no_centroid_graphs(version: object) -> str:
    return (
        f"vLLM {version or '(version unknown)'} captures no Gemma 4 MTP centroid CUDA graphs "
        "(Gemma4Proposer._setup_centroids_cuda_graphs is missing), so there is nothing to verify."
    )


def verify_no_torch(exc: BaseException) -> str:
    return f"PyTorch cannot be imported here ({type(exc).__name__}: {exc}); vllm-patches verify needs PyTorch with CUDA."


def verify_no_cuda(torch_version: str) -> str:
    return f"No CUDA GPU is visible here (torch {torch_version}: torch.cuda.is_available() is False); run vllm-patches verify on a GPU machine."


def verify_bad_sizes(raw: str) -> str:
    return f"--sizes wants positive whole numbers separated by commas (example: 1,2,4,8,16,32,64,65); got '{raw}'."


def verify_bad_vocab(vocab: int, centroids: int) -> str:
    return f"--vocab must be a multiple of the {centroids} centroids of the Gemma 4 assistant (example: 262144); got {vocab}."


def verify_arms_cannot_start(arm: str, scenario: str, error: str) -> str:
    return f"The {arm} arm could not start ({scenario}): {error}"


def arm_import_failed(error: str) -> str:
    return f"vLLM's Gemma 4 MTP modules could not be imported ({error})"


def control_runs_patched_code(owner: str, methods: list[str]) -> str:
    return (
        f"the original code cannot run: {owner}.{', '.join(methods)} is already patched in this "
        "process (a vllm-patches hook ignored VLLM_PATCHES=none)"
    )


def control_in_source(location: object) -> str:
    return (
        f"the fix is written into the source under {location}, so the original code cannot run "
        "here; verify an unpatched copy of this vLLM for the control"
    )


def control_left_out() -> str:
    return "left out (--no-control)"


def rank_group_failed(error: str) -> str:
    return f"the process group could not be set up ({error})"


def rank_gave_nothing(rank: int, failure: str | None) -> str:
    why = f" ({failure})" if failure else ""
    return f"rank {rank} ended without a result{why}"


def arm_crashed(returncode: int, last_line: str) -> str:
    how = _exit_text(returncode)
    return f"the process {how} without a result" + (f": {last_line}" if last_line else "")


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        import signal

        try:
            return f"died of {signal.Signals(-returncode).name}"
        except ValueError:
            return f"died of signal {-returncode}"
    return f"exited with code {returncode}"


def arm_timed_out(seconds: float) -> str:
    return f"no result within {seconds:.0f} s (stopped)"


def mode_emulated(tp: int, why: str) -> str:
    return (
        f"emulated TP={tp} on one GPU ({why}): one process plays rank 0 and vLLM's all-gather "
        f"is replaced by a concatenation of the {tp} shards into a new tensor "
        "(NCCL refuses two ranks on one GPU)"
    )


def mode_emulated_asked() -> str:
    return "--emulate-tp"


def mode_emulated_few_gpus(gpus: int, tp: int) -> str:
    return f"{gpus} GPU(s) visible, TP={tp} needs {tp}"


def mode_single(why: str = "TP=1") -> str:
    return f"TP=1 on one GPU ({why}): nothing is gathered, so the control is not expected to fail"


def mode_ranks(tp: int, backend: str) -> str:
    return (
        f"TP={tp} over {tp} GPUs: {tp} ranks (torch.multiprocessing spawn, {backend}) set up with "
        "vLLM's init_distributed_environment and initialize_model_parallel; every rank compares"
    )


def mode_cpu(tp: int) -> str:
    return (
        f"CPU with emulated CUDA graphs and emulated TP={tp}: for tests only "
        "(a replay that reads a freed tensor fails)"
    )


def verify_started(version: object, location: object, mode: str, processes: int) -> str:
    return f"Verifying vLLM {version} at {location}: {mode}. {processes} arm process(es) at once."


def arm_progress(arm: str, scenario: str, outcome: str, detail: str, seconds: float) -> str:
    return f"  {arm:<8} {scenario:<8} {outcome:<11} {detail} ({seconds:.1f} s)"


def progress_match(sizes: int, trials: int) -> str:
    return f"token ids identical to eager at all {sizes} sizes, {trials} trial(s) each"


def progress_mismatch(bad: list[int]) -> str:
    return f"token ids differ from eager at size(s) {', '.join(str(s) for s in bad)}"


def progress_error(where: str | None, error: str | None) -> str:
    return f"at {where}: {error}" if where else str(error)


def size_paths(captured: list[int], eager: list[int], padded: list[tuple[int, int]]) -> str:
    parts = []
    if captured:
        parts.append(f"sizes {', '.join(str(s) for s in captured)} replay their captured CUDA graph")
    for size, graph in padded:
        parts.append(f"{size} replays the graph of {graph}")
    if eager:
        verb = "takes" if len(eager) == 1 else "take"
        parts.append(f"{', '.join(str(s) for s in eager)} {verb} vLLM's eager fallback")
    return "; ".join(parts) + "."


def patched_with(outcomes: list[dict]) -> str:
    if not outcomes:
        return "no patch outcome was reported"
    return "; ".join(f"{o['id']} {o['outcome']} ({o['mode']})" for o in outcomes)


def verdict_pass(scenarios: list[str]) -> str:
    return f"PASS: the patched code gives exactly eager's token ids at every size ({', '.join(scenarios)})."


def verdict_fail(failed: list[str]) -> str:
    return f"FAIL: the patched code does not match eager in {', '.join(failed)}."


def _scenario_list(items: list[tuple[str, str]]) -> str:
    return "; ".join(f"{scenario}: {what}" for scenario, what in items)


def control_reproduced(shown: list[tuple[str, str]]) -> str:
    return f"The control reproduced the bug ({_scenario_list(shown)}), so the check is meaningful."


def control_reproduced_partly(shown: list[tuple[str, str]], hidden: list[tuple[str, str]]) -> str:
    return (
        f"The control reproduced the bug in {_scenario_list(shown)}, not in {_scenario_list(hidden)}: "
        "only the scenario(s) where it failed show that the fix is needed on this vLLM."
    )


def control_not_reproduced(hidden: list[tuple[str, str]]) -> str:
    return (
        f"The control did not reproduce the bug ({_scenario_list(hidden)}): on this machine the "
        "check does not show that the bug exists, so a PASS proves less."
    )


def control_not_run(reason: str) -> str:
    return f"Control: {reason}."


# The harness's stand-ins ------------------------------------------------------
def xgrammar_stand_in_doc() -> str:
    return ("A stand-in for xgrammar, which cannot be imported here: vllm-patches verify imports "
            "vLLM's modules, which take xgrammar's names at module load; none of it is used.")


def compiled_stand_in_doc() -> str:
    return ("vllm-patches stand-in for a compiled vLLM extension that this Python-only tree "
            "lacks: imported at module load, never called by the verification.")


# Behaviour checks (checks.py) ------------------------------------------------------
def checks_starting(checks: int, processes: int, version: str, location) -> str:
    return (f"Running {checks} check(s), control and patched, in {processes} process(es) "
            f"against vLLM {version} at {location} ...")


def check_arm_done(patch_id: str, arm: str, bug) -> str:
    shown = "bug shown" if bug is True else "no bug" if bug is False else "error"
    return f"  {patch_id}: {arm} {shown}"


def checks_again_alone(count: int) -> str:
    return (f"  {count} check(s) did not finish in the shared process: running each in a "
            "process of its own ...")



def setting_malformed(item: str) -> str:
    return f"--set wants NAME=VALUE (example: --set trials=20); got '{item}'."


def setting_unknown(name: str, names: list[str]) -> str:
    takes = f"they take: {', '.join(names)}" if names else "they take no parameters"
    return f"--set {name}: no selected check takes a parameter '{name}' ({takes})."


def setting_bad_value(name: str, raw: str, default: object) -> str:
    if isinstance(default, bool):
        kind = "true or false"
    elif isinstance(default, (tuple, list)):
        kind = "a comma list like " + ",".join(str(v) for v in default)
    else:
        kind = f"a {type(default).__name__} like {default}"
    return f"--set {name}={raw}: {name} wants {kind}."


# The check kit (verify.kit) -----------------------------------------------------
def finding_bug_not_bool(bug) -> str:
    return f"A Finding's bug must be True or False, not {bug!r}."


def bad_finding(source: str, value) -> str:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return (f"{source} returned {shown}; a check must return kit.Finding(bug, detail) or a "
            "dict with a bool 'bug' and a 'detail'.")


def stand_ins_note(names) -> str:
    return f" (stand-ins for {', '.join(names)})"


def stand_ins_moved() -> str:
    return ("vllm-patches: vllm_patches.verify.stand_ins is deprecated and goes in the next "
            "release; import stand_in_for_missing from vllm_patches.verify.kit.")
