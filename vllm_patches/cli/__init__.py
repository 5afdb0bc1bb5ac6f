"""The command line: ``main`` (status, apply, revert, diff, export, backport, verify, install),
``catalog`` (catalog new / fingerprint / check) and ``audit``."""
