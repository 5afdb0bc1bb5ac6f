"""The README's alert rules on vllm-patches' metrics, and their logic evaluated in Python.

``RULES`` holds the PromQL text a user copies; ``firing(rule, pages)`` computes what that
expression returns over real scrapes (``pages``: one Prometheus text page per pod, parsed
with prometheus_client's parser, each sample given the pod's ``namespace`` and ``pod``
labels as Prometheus adds its target's labels). Only the few operators the rules use are
evaluated: ``sum``/``count by (...)`` over a name with label matchers, a comparison with a
number, and ``unless on (...)``: each rule's function below is that expression, spelled out.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

POD = ("namespace", "pod")

RULES = {
    # A process of the pod imported a patched module and does not run the fix.
    "VllmPatchMissing":
        "sum by (namespace, pod, patch) (vllm_patches_processes_not_in_place) > 0",
    # The pod serves (vLLM's own gauge is there) and no process armed vllm-patches.
    "VllmPatchesNotArmed":
        "count by (namespace, pod) (vllm:num_requests_running) unless on (namespace, pod) "
        "(sum by (namespace, pod) (vllm_patches_processes_armed) > 0)",
    # The pod's /metrics counts the API server alone: no word from the engine and workers.
    "VllmPatchesApiServerOnly":
        "sum by (namespace, pod) (vllm_patches_processes_armed{multiprocess=\"false\"}) > 0",
}
PANEL = "sum by (namespace, pod, patch) (vllm_patches_processes_not_in_place)"


def samples(pages: dict[str, str], namespace: str = "test") -> list[tuple[str, dict, float]]:
    """Every sample of every page, as ``(name, labels, value)``, with the pod's labels."""
    found = []
    for pod, text in pages.items():
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                found.append((sample.name, {**sample.labels, "namespace": namespace,
                                            "pod": pod}, sample.value))
    return found


def aggregate(found, name: str, by: tuple[str, ...], how, **match) -> dict[tuple, float]:
    """``how by (by) (name{match})``: one value per distinct ``by`` label values."""
    groups: dict[tuple, list[float]] = {}
    for sample_name, labels, value in found:
        if sample_name == name and all(labels.get(k) == v for k, v in match.items()):
            groups.setdefault(tuple(labels.get(k, "") for k in by), []).append(value)
    return {key: how(values) for key, values in groups.items()}


def firing(rule: str, pages: dict[str, str]) -> dict[tuple, float]:
    """What the rule's expression returns: label values -> value (empty: it does not fire)."""
    found = samples(pages)
    if rule == "VllmPatchMissing":
        sums = aggregate(found, "vllm_patches_processes_not_in_place", (*POD, "patch"), sum)
        return {k: v for k, v in sums.items() if v > 0}
    if rule == "VllmPatchesNotArmed":
        serving = aggregate(found, "vllm:num_requests_running", POD, len)
        armed = {k for k, v in aggregate(found, "vllm_patches_processes_armed", POD,
                                         sum).items() if v > 0}
        return {k: v for k, v in serving.items() if k not in armed}
    if rule == "VllmPatchesApiServerOnly":
        alone = aggregate(found, "vllm_patches_processes_armed", POD, sum, multiprocess="false")
        return {k: v for k, v in alone.items() if v > 0}
    raise KeyError(rule)
