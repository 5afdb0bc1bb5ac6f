"""Authoring: the tools for a catalogue's maintainers.

``scaffold`` writes a new patch folder (``catalog new``; ``wrapper_source`` writes its
wrappers), ``fingerprint`` records the shapes of its targets across releases and
``patch_toml`` writes them into patch.toml in place (``catalog fingerprint``), ``check`` and
``check_runtime`` are a catalogue's CI (``catalog check``), ``audit`` answers the upgrade
question for every patch (``audit --to``).
"""
