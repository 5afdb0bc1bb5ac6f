"""The core: what every mode shares.

The catalogue (``catalog``, ``patch_toml``, ``catalog_files``, ``overlaps``, and
``chains``: two fixes on one function in a declared order), where vLLM's code lives and how
it reads (``detect``, ``releases``, ``release_index``, ``sourcefile``, ``pathguard``), its
shapes (``shape``), versions (``versions``) and the one verdict (``state.judge``). Nothing here imports torch or vLLM.
"""
