"""The verification's default sizes, in a module of their own so the CLI can show
them without importing the verification itself."""

DEFAULT_SIZES = (1, 2, 3, 4, 8, 16, 32, 64, 65)  # + 3 (replays the graph of 4), 65 (eager)
GEMMA4_ASSISTANT = {"vocab": 262144, "hidden": 256, "centroids": 2048, "top_k": 32}

# What importing the Gemma 4 MTP modules of vLLM 0.28.0 and later needs besides what the
# older releases need (the test extra): llguidance from 0.28.0 (a class annotation
# evaluated at import), fastapi and the rest from 0.30.0. tools/gpu_bundle.py carries them as
# wheels to the GPU machine; the CPU tests install them into a cached folder. xgrammar,
# also imported at module load from 0.28.0 on, is stood in for instead (too big to carry,
# never called here: see harness.stand_in_for_xgrammar).
LATER_IMPORT_NEEDS = ("fastapi", "starlette", "annotated-doc", "partial-json-parser",
                      "llguidance", "opentelemetry-api")
