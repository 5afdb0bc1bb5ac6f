"""Authoring: the tools for a catalogue's maintainers.

``scaffold`` writes a new patch folder (``catalog new``), ``fingerprint`` records the
shapes of its targets across releases (``catalog fingerprint``), ``check`` and
``check_runtime`` are a catalogue's CI (``catalog check``), ``audit`` answers the upgrade
question for every patch (``audit --to``).
"""
