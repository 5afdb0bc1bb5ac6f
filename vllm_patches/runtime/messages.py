"""What vllm-patches says about runtime mode: apply/revert in a process, the plugin, the hooks
and the report.

Each sentence is a small factory named for the situation, next to the code that says it."""

from __future__ import annotations


def catalog_failed_at_runtime() -> str:
    return "vllm-patches could not load its catalogue; vLLM runs unpatched."


# Runtime mode -----------------------------------------------------------------
def already_applied_here(patch_id: str) -> str:
    return f"{patch_id} is already applied in this process"


def found_in_source(patch_id: str) -> str:
    return f"{patch_id} is already written into vLLM's source; nothing to do at run time"


def applied_now(patch_id: str, version: str) -> str:
    return f"{patch_id} applied at run time (vLLM {version})"


def apply_failed(patch_id: str, exc: BaseException) -> str:
    if not isinstance(exc, Exception):  # SystemExit, GeneratorExit...: would end the process
        return (f"{patch_id} could not be applied: its code raised {type(exc).__name__}"
                f"({exc!s}), which would have ended this process; vllm-patches stopped it, "
                "and vLLM runs without the patch")
    return f"{patch_id} could not be applied ({type(exc).__name__}: {exc}); vLLM runs without it"


def refuse_modified(patch_id: str, reason: str) -> str:
    return (
        f"{patch_id} refused: {reason}; "
        "review it, then use force=True (CLI: --force) or vllm-patches backport"
    )


def not_applied_here(patch_id: str) -> str:
    return f"{patch_id} is not applied in this process"


def reverted_here(patch_id: str) -> str:
    return f"{patch_id} reverted: the original functions are back"


def log_applied(pid: int, patch_id: str, mode: str, version: str) -> str:
    return f"pid {pid}: applied {patch_id} ({mode}) to vLLM {version}"


# Auto-patching: vLLM plugin, .pth hook, process report ------------------------
def log_obsolete(pid: int, patch_id: str, version: str, fixed_in: object) -> str:
    since = f"since vLLM {fixed_in}" if fixed_in is not None else "in its code"
    return (
        f"pid {pid}: {patch_id} is obsolete for vLLM {version}: the fix is upstream ({since}); "
        f"vLLM runs its own fix, and {patch_id} can be dropped from your patch set"
    )


def not_needed_here(pid: int, ids: list[str], version: object) -> str:
    return (f"pid {pid}: {len(ids)} patch(es) not needed on vLLM {version} (fixed upstream): "
            f"{', '.join(ids)}; each is still checked against the running code when its "
            "module is imported")


def unknown_ids_in_env(ids: list[str], known: list[str]) -> str:
    return (
        f"VLLM_PATCHES names unknown patch id(s) {', '.join(ids)}; known ids: "
        f"{', '.join(known) or 'none'} (or all, none)"
    )


def bad_selection(raw: str, mixed: bool) -> str:
    why = ("puts all or none beside other names" if mixed else "names no patch")
    return (f"VLLM_PATCHES={raw!r} {why}, so vLLM processes here apply no patch; set it to "
            "all, none, or a comma list of patch ids")


def autopatch_failed(module: str, exc: BaseException) -> str:
    ended = "" if isinstance(exc, Exception) else ", which would have ended this process"
    return (
        f"vllm-patches could not patch {module} ({type(exc).__name__}: {exc}){ended}; "
        "vLLM runs unpatched (VLLM_PATCHES_STRICT=1 makes this an error)"
    )


def inherited_patch(patch_id: str, ppid: int) -> str:
    return f"{patch_id} inherited from parent process {ppid} (forked after it was applied)"


def report_refused(path: str, exc: OSError) -> str:
    return (f"vllm-patches cannot append to the report {path}: it is {exc.strerror}, and a "
            "report must be a plain file that only this user (or root) can write; nothing "
            "is written (remove it, or set VLLM_PATCHES_REPORT to a path in a folder of "
            "your own)")


def report_write_failed(path: str, exc: Exception) -> str:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
    return f"vllm-patches cannot append to the report {path}: {reason}; nothing is written"


def report_missing(path: str) -> str:
    return (
        f"Report file {path} does not exist (set VLLM_PATCHES_REPORT={path} "
        "in the environment of the vLLM processes first)."
    )


def report_not_evidence(path: str, problem: str) -> str:
    return (f"Report {path} {problem}: no evidence, since a report proves something only as "
            "a plain file that no other user could have written (vllm-patches writes it so; "
            "remove it and run vLLM again, or set VLLM_PATCHES_REPORT to a path in a folder "
            "of your own).")


def report_not_a_file(path: str, problem: str) -> str:
    return (f"Report {path} {problem}: give the plain file that VLLM_PATCHES_REPORT named for "
            "the vLLM processes.")


def report_no_line_of_run(path: str, run: str, others: list[str], unnamed: bool) -> str:
    held = (f"it holds run(s) {_few(others)}" if others else "it holds no run")
    if unnamed:
        held += " and lines from before runs (no evidence for any run)"
    return (f"Report {path} holds no line of run {run} ({held}): no evidence that vllm-patches "
            f"loaded in any process of that run (start them with VLLM_PATCHES_RUN={run} "
            f"and VLLM_PATCHES_REPORT={path}).")


def _few(items: list[str], shown: int = 3) -> str:
    """The last ``shown`` items (the newest runs), and how many more there are."""
    more = len(items) - shown
    return (f"{more} more, then " if more > 0 else "") + ", ".join(items[-shown:])


def report_unreadable(path: str, exc: OSError) -> str:
    return f"Cannot read report file {path}: {exc.strerror or exc}."


def site_missing(site: object) -> str:
    return f"Site folder {site} does not exist (give an existing site-packages folder with --site)."


def site_not_folder(site: object) -> str:
    return f"{site} is not a folder (give a site-packages folder with --site)."


def hook_write_failed(path: object, exc: OSError) -> str:
    return (
        f"Cannot write {path}: {exc.strerror or exc} "
        "(run as the owner of that environment, or give another --site DIR)."
    )


def hook_remove_failed(path: object, exc: OSError) -> str:
    return f"Cannot remove {path}: {exc.strerror or exc} (run as the owner of that environment)."


# Auto-patching, as status shows it ----------------------------------------------------
def autopatch_no_plugin() -> str:
    return ("Auto-patching: off (the vllm-patches plugin entry point is not installed in this "
            "environment: pip install vllm-patches here)")


def autopatch_filtered(vllm_plugins: str) -> str:
    return (f"Auto-patching: off (VLLM_PLUGINS={vllm_plugins!r} does not list vllm_patches, so "
            f"vLLM will not load the plugin{vllm_plugins_hint(vllm_plugins)})")


def vllm_plugins_hint(vllm_plugins: str) -> str:
    """Why a VLLM_PLUGINS value that seems to list the plugin does not, for vLLM."""
    names = [name.strip() for name in vllm_plugins.split(",")]
    if "vllm_patches" not in names:
        return ""
    fixed = ",".join(name for name in names if name)
    return (f"; vLLM splits it on commas and keeps the spaces, so write "
            f"VLLM_PLUGINS={fixed!r}")


def autopatch_bad_selection(problem: str) -> str:
    return f"Auto-patching: off ({problem})"


def autopatch_disabled() -> str:
    return "Auto-patching: off (VLLM_PATCHES=none)"


def autopatch_on(selection) -> str:
    chosen = "every applicable patch" if selection is None else ", ".join(selection)
    return (f"Auto-patching: on (vLLM plugin installed): every vLLM process here applies "
            f"{chosen} as it starts; prove it with VLLM_PATCHES_REPORT")


def refuse_rival(patch_id: str, why: str) -> str:
    return f"{patch_id} refused: {why}."


def outcome_renamed() -> str:
    return ("vllm_patches.runtime.Outcome is now vllm_patches.runtime.Result (Outcome is the "
            "enum of its .outcome, in vllm_patches.core.words); the old name goes in the next "
            "release.")


# Metrics: the gauges in vLLM's /metrics, and reading them back -------------------
def metrics_failed(exc: BaseException) -> str:
    return (f"vllm-patches cannot export its metrics to vLLM's /metrics ({type(exc).__name__}: "
            f"{exc}); the patches are unaffected, and vLLM runs on (VLLM_PATCHES_METRICS=0 "
            "turns the metrics off)")


def metrics_bad_url(url: str) -> str:
    return (f"{url!r} is not a metrics URL: give http:// or https://, a host and a port, such "
            "as http://127.0.0.1:8000/metrics.")


def metrics_unreachable(url: str, reason: object) -> str:
    reason = getattr(reason, "strerror", None) or reason
    return f"Cannot read {url}: {reason} (is the vLLM server up, and is that its address?)."


def metrics_timeout(url: str, seconds: float) -> str:
    return f"Cannot read {url}: no answer within {seconds:g} s."


def metrics_http_error(url: str, code: int, reason: object) -> str:
    return (f"{url} answered HTTP {code} {reason}, not a metrics page (vLLM serves its "
            "metrics at /metrics).")


def metrics_too_large(url: str, limit: int) -> str:
    return f"{url} sent more than {limit >> 20} MiB: not a vLLM metrics page."


def metrics_not_prometheus(url: str, exc: Exception) -> str:
    return f"{url} is not a Prometheus metrics page ({exc})."


def metrics_no_prometheus_client() -> str:
    return ("Reading /metrics needs prometheus_client, which is not installed in this Python "
            "(it comes with vLLM; elsewhere: pip install prometheus_client).")


def metrics_none(url: str) -> str:
    return (f"{url} has no vllm_patches_ metric: no evidence that any process of that server "
            "armed vllm-patches (not installed there, VLLM_PATCHES=none, VLLM_PLUGINS leaving "
            "vllm_patches out, or VLLM_PATCHES_METRICS=0).")


def metrics_api_server_only(url: str) -> str:
    return (f"{url} counts the API server's process alone (vLLM runs prometheus_client in one "
            "process): no evidence for the engine core and the workers; start vLLM with "
            "PROMETHEUS_MULTIPROC_DIR set to an empty folder to count every process.")


def metrics_not_judged(url: str, ids) -> str:
    return (f"No process of {url} judged {', '.join(ids)}: no evidence that it runs (no process "
            "imported its target, or the plugin did not load there).")


def metrics_not_in_place(url: str, failing: dict) -> str:
    return f"{url} shows a patch not in place: " + "; ".join(
        f"{patch_id} " + ", ".join(f"{outcome} in {n} process(es)" for outcome, n in
                                   sorted(outcomes.items()))
        for patch_id, outcomes in sorted(failing.items())) + "."
