"""vLLM-like processes that arm vllm-patches through vLLM's plugin loader, then the page a
multiprocess ``/metrics`` serves for them.

The main process loads vLLM's general plugins, imports prometheus_client (as every vLLM
process does, here after arming, so the exporter's import hook is what sets the gauges),
imports the patched model module, then starts children the ways vLLM starts workers:
``fork`` (it inherits the patched classes and loads no plugin) and ``spawn`` (it loads the
plugins itself). With ``PROMETHEUS_MULTIPROC_DIR`` set, it prints the page that
prometheus_client's ``MultiProcessCollector`` makes of the folder, as vLLM's /metrics does;
without it, its own default registry's page.

    python metrics_processes.py [fork] [spawn]

Prints {"page": TEXT, "pids": [main, child...], "prometheus_before_arming": bool}.
"""

import json
import os
import sys

from children import run_in_child
from marks import MODULE


def as_vllm_process() -> bool:
    """Load the plugins, then import prometheus_client and the patched module."""
    from vllm.plugins import load_general_plugins

    load_general_plugins()
    before = "prometheus_client" in sys.modules
    import prometheus_client  # noqa: F401 - vLLM's processes import it

    __import__(MODULE)
    return before


def spawned_child(queue) -> None:
    as_vllm_process()
    queue.put({"pid": os.getpid()})


def forked_child(queue) -> None:
    queue.put({"pid": os.getpid()})


def page() -> str:
    import prometheus_client
    from prometheus_client import multiprocess

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    registry = prometheus_client.REGISTRY
    if folder:
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
    return prometheus_client.generate_latest(registry).decode()


def main(children: list[str]) -> dict:
    before = as_vllm_process()
    pids = [os.getpid()]
    for child in children:
        started = run_in_child(child, forked_child if child == "fork" else spawned_child)
        assert started["exitcode"] == 0, started
        pids.append(started["pid"])
    return {"page": page(), "pids": pids, "prometheus_before_arming": before}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
