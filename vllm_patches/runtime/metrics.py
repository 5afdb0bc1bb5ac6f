"""Patch state in vLLM's own ``/metrics``: gauges each process sets, summed by prometheus_client.

Every process that arms vllm-patches and imports vLLM (API server, engine core, each
worker) sets, in prometheus_client's default registry, one gauge that says it armed and,
per patch it judged, one that says where the fix stands there (in place, not needed, or
not in place with the outcome). vLLM serves its ``/metrics`` from the API server; how the
other processes' values get there is vLLM's and prometheus_client's own multiprocess
setup: with ``PROMETHEUS_MULTIPROC_DIR`` in the environment when vLLM starts (vLLM makes
one itself for ``--api-server-count`` above 1; for one API server the operator sets it),
prometheus_client keeps each process's values in a file of that folder, and vLLM's
``/metrics`` (a ``MultiProcessCollector``) sums them: the gauges are ``livesum``, so the sum
is the number of processes. Without it, ``/metrics`` shows the API server's own values
alone, and the armed gauge's ``multiprocess="false"`` label says so, so that no reader
mistakes one process for all of them (a label, not a gauge of its own: each series is a
write to the multiprocess file at every process start).

Cost: nothing here imports prometheus_client. The values are set when vLLM imports it (an
import hook, at once when it already is: every vLLM process imports it), when a patch is
judged, and in a child forked after that; never per request. ``VLLM_PATCHES_METRICS=0``
turns it off: no hook, no gauge, no registry touched. Exporting never raises into vLLM: a
failure is one warning per process, and vLLM runs on.

The names, types and help texts below are also what ``runtime.scrape`` reads back.
"""

import os
import sys
from _thread import RLock

from vllm_patches.runtime import importhook

METRICS_ENV = "VLLM_PATCHES_METRICS"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "vllm_patches_"

ARMED = "vllm_patches_processes_armed"
IN_PLACE = "vllm_patches_processes_in_place"
NOT_NEEDED = "vllm_patches_processes_not_needed"
NOT_IN_PLACE = "vllm_patches_processes_not_in_place"

VERSION_LABELS = ("vllm_version", "vllm_patches_version")
PATCH_LABELS = ("patch", *VERSION_LABELS)
MULTIPROCESS_LABEL = "multiprocess"  # on ARMED: "true" where the page sums every process
OUTCOME_LABEL = "outcome"

# name -> (help, label names): all gauges, since a process can leave (its value with it)
# and a patch's state can change in a process; all ``livesum``, so that a process keeps
# one file in the multiprocess folder (each multiprocess mode is a file of its own).
MODE = "livesum"
FAMILIES = {
    ARMED: ("vLLM processes that armed vllm-patches (its plugin or .pth hook loaded, vLLM "
            "imported); multiprocess=\"true\": counted through prometheus_client's multiprocess "
            "files (PROMETHEUS_MULTIPROC_DIR), \"false\": the API server's process alone.",
            (*VERSION_LABELS, MULTIPROCESS_LABEL)),
    IN_PLACE: ("vLLM processes that run this patch's fix (applied, already applied, written "
               "into vLLM's source, or inherited from the parent they were forked from).",
               PATCH_LABELS),
    NOT_NEEDED: ("vLLM processes that imported this patch's target and found it outside the "
                 "fix's reach (skipped: the release or fork has the fix).",
                 PATCH_LABELS),
    NOT_IN_PLACE: ("vLLM processes that imported this patch's target and do not run the fix "
                   "(refused or failed), by outcome.", (*PATCH_LABELS, OUTCOME_LABEL)),
}

_OFF = ("0", "false", "no", "off")
_LOCK = RLock()


def new_state() -> dict:
    """A process's state before it armed: whether it armed, each judged patch's last outcome,
    the value each gauge's series was last set to (a series is made only for a value that
    is not 0, and set only when its value changes: each set is a write to a file in
    multiprocess mode), whether the fork hook is in place, the gauges once made, and whether
    a registry refused them (then this process exports nothing more)."""
    return {"armed": False, "outcomes": {}, "set": {}, "forks": False, "gauges": None,
            "versions": None, "broken": False, "warned": False}


_STATE = new_state()


def enabled() -> bool:
    """False where ``VLLM_PATCHES_METRICS`` turns the metrics off (``0``, ``false``, ...)."""
    return os.environ.get(METRICS_ENV, "").strip().lower() not in _OFF


def armed() -> None:
    """This process armed vllm-patches and imported vLLM: say so once prometheus_client is
    imported; a child forked from here says so too."""
    if not enabled():
        return
    with _LOCK:
        _STATE["armed"] = True
        if not _STATE["forks"] and hasattr(os, "register_at_fork"):
            _STATE["forks"] = True
            os.register_at_fork(after_in_child=_after_fork)
    _export()


def record(outcomes) -> None:
    """The outcomes (``id``, ``outcome``) of the patches this process just judged."""
    if not enabled() or not outcomes:
        return
    with _LOCK:
        _STATE["outcomes"].update((o.id, str(o.outcome)) for o in outcomes)
    _export()


def _after_fork() -> None:
    # A forked child runs what its parent patched, and prometheus_client starts a file of
    # its own for it at its first write: write everything again. Its own lock: another
    # thread of the parent may have held the inherited one.
    global _LOCK
    _LOCK = RLock()
    _STATE["set"] = {}  # the child's file starts empty: every value that is not 0 again
    _export()


def _export() -> None:
    """Set the gauges now if prometheus_client is imported, else right after vLLM imports it."""
    try:
        module = sys.modules.get("prometheus_client")
        if module is not None and not importhook._initializing(module):
            _publish(module)  # the usual case, without the hook's round trip
            return
        importhook.when_imported("prometheus_client", _publish)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        _warn_once(exc)


def _publish(prometheus_client) -> None:
    """Set this process's gauges; never raises (it runs inside vLLM's import)."""
    try:
        with _LOCK:
            if _STATE["broken"]:
                return
            gauges = _STATE["gauges"] or _make_gauges(prometheus_client)
            _set_all(gauges)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a registry that refuses us costs the metrics, never vLLM
        _STATE["broken"] = True
        _warn_once(exc)


def _make_gauges(prometheus_client) -> dict:
    """The gauges, in the default registry (the one vLLM serves without multiprocess mode):
    all of them, or none when the registry refuses one (a name someone else holds). In
    multiprocess mode they are in no registry: each value goes to this process's file as it
    is set, and vLLM's ``/metrics`` then serves a registry of its own that reads the files
    (``get_prometheus_registry``, 0.17.0-0.33.0), never the default one, so registering
    would only cost time at every process start."""
    made = {name: prometheus_client.Gauge(name, text, labels, multiprocess_mode=MODE,
                                          registry=None)
            for name, (text, labels) in FAMILIES.items()}
    if multiprocess():
        _STATE["gauges"] = made
        return made
    registry, registered = prometheus_client.REGISTRY, []
    try:
        for gauge in made.values():
            registry.register(gauge)
            registered.append(gauge)
    except BaseException:
        for gauge in registered:
            registry.unregister(gauge)
        raise
    _STATE["gauges"] = made
    return made


def _set_all(gauges: dict) -> None:
    versions = _STATE["versions"] = _STATE["versions"] or (_vllm_version(), _our_version())
    # Always shown, 0 included: the page says which kind of count it is, and who armed.
    always = {(ARMED, (*versions, "true" if multiprocess() else "false")):
              1 if _STATE["armed"] else 0}
    wanted = {**always, **_patch_series(versions)}
    done = _STATE["set"]
    for series in done.keys() - wanted.keys():  # a state this process left: back to 0
        wanted[series] = 0
    for series, value in wanted.items():
        if done.get(series) == value or (series not in done and not value
                                         and series not in always):
            continue
        name, labels = series
        gauges[name].labels(*labels).set(value)
        done[series] = value


def _patch_series(versions: tuple) -> dict:
    """The one series each judged patch is in (value 1): its state in this process."""
    if not _STATE["outcomes"]:
        return {}  # nothing judged yet: the report module (its words) is not needed yet
    from vllm_patches.runtime.report import Proof, proof_of

    family_of = {Proof.IN_PLACE: IN_PLACE, Proof.NOT_NEEDED: NOT_NEEDED}
    series = {}
    for patch_id, outcome in _STATE["outcomes"].items():
        family = family_of.get(proof_of(outcome), NOT_IN_PLACE)
        extra = (outcome,) if family == NOT_IN_PLACE else ()
        series[(family, (patch_id, *versions, *extra))] = 1
    return series


def multiprocess() -> bool:
    """True when prometheus_client keeps this process's values in vLLM's shared folder."""
    return bool(os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()))


def _vllm_version() -> str:
    """What this vLLM says it is (``VLLM_PATCHES_VLLM_VERSION`` first, as the plugin reads
    it); read from the imported module, not from the files, which costs milliseconds."""
    from vllm_patches.core.detect import VERSION_ENV

    override = os.environ.get(VERSION_ENV, "").strip()
    if override:
        return override
    version = getattr(sys.modules.get("vllm"), "__version__", None)
    return version if isinstance(version, str) and version else "unknown"


def _our_version() -> str:
    from vllm_patches._version import __version__

    return __version__


def _warn_once(exc: BaseException) -> None:
    if _STATE["warned"]:
        return
    _STATE["warned"] = True
    try:
        import logging

        from vllm_patches.runtime.messages import metrics_failed

        logging.getLogger("vllm_patches").warning("%s", metrics_failed(exc))
    except Exception:
        pass
