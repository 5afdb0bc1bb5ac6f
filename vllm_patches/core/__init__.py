"""The core: what every mode shares.

The catalogue (``catalog``, ``catalog_files``, ``overlaps``, and ``chains``: two fixes on
one function in a declared order), where vLLM's code lives and how it reads (``detect``,
``releases``, ``release_index``, ``sourcefile``, ``pathguard``), its shapes (``shape``), versions (``versions``) and the one verdict
(``state.judge``), the marker comments of a written fix (``markers``) and the message of a
fix as a commit or mail (``commit_message``, shared by export and backport). Nothing here
imports torch or vLLM, nor any other layer of the package.
"""
