"""Reusable helpers for GPU checks (a patch's ``check.py`` with ``DEVICE = "cuda"``).

``isolated`` runs a check's cases each in a process of its own, in the check's arm
(a CUDA error must cost only its case); ``graphs`` compares captured-graph replay with
eager execution and makes an arm's line of the cases; ``tp`` emulates tensor
parallelism on one GPU; ``ranks`` runs real ranks over vLLM's own process group;
``imports`` imports vLLM's modules from a Python-only tree; ``cpu_graphs`` emulates
CUDA-graph capture where there is no GPU (tests); ``shapes`` names the releases that
stand for each recorded shape of the GPU-checked patches (``tools/gpu_bundle.py``).
Nothing here knows a particular patch: the Gemma 4 MTP proof lives in its patch folder.
"""
