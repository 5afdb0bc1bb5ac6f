"""GPU verification: vLLM's Gemma 4 MTP code with CUDA graphs and TP > 1.

``run`` plans the jobs and the verdict, ``arm`` is one process (patched or control),
``ranks`` starts and merges tensor-parallel ranks (or emulates them on one GPU),
``harness`` builds the model shell from vLLM's own classes, ``cpu_graphs`` emulates
CUDA-graph capture where there is no GPU, ``defaults`` holds the real sizes,
``shapes`` names the releases that stand for each recorded shape of the patches.
"""
