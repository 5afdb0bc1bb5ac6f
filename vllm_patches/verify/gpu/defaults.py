"""The verification's default sizes, in a module of their own so the CLI can show
them without importing the verification itself."""

DEFAULT_SIZES = (1, 2, 3, 4, 8, 16, 32, 64, 65)  # + 3 (replays the graph of 4), 65 (eager)
GEMMA4_ASSISTANT = {"vocab": 262144, "hidden": 256, "centroids": 2048, "top_k": 32}
