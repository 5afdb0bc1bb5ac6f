"""Verify: each fix proven by its own check, unpatched against patched.

``checks`` runs a patch's ``check.py`` in a control and a patched process (``check_arm``
is what runs in each) and decides PASS / FAIL / INCONCLUSIVE / NOT-RUN. ``gpu`` holds
generic helpers for GPU checks (cases in processes of their own, replay against eager,
emulated and real tensor parallelism).

``kit`` is what a check.py builds on: a tiny model folder, offline settings, stand-ins for
backends it never calls, whether a vLLM call accepts or rejects its input, the ``Finding``
that ``run()`` returns.
"""
