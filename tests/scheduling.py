"""How the test files are handed to pytest-xdist's workers (``-n auto --dist loadfile``).

xdist's ``loadfile`` keeps a file's tests on one worker and hands out the files with the
most tests first. Here the files with the fewest tests take the longest (an end-to-end file
starts vLLM servers; a matrix file runs a check process per release), so that order left
them for the end, running side by side on two cores while the other files were done.
Two changes, the file still the unit of work:

- the end-to-end files (``test_e2e_*``) are one unit: one worker runs them in turn and
  builds their session fixtures (this checkout's wheel, the tiny model, the engine layers,
  the vLLM cache that spares each later server its model inspection) once;
- the units known to take longest go first (``LONGEST``, measured with ``--durations`` on
  a 2-core VM), then the others with the most tests first, so the short files fill in at
  the end. ``order`` sorts the collected items so (conftest), and ``LongestFirst`` hands
  the units out in the order they were collected.
"""

from __future__ import annotations

from collections import Counter

E2E = "tests/test_e2e_*"
# Longest first, as measured on 2 cores: the e2e files ~600 s together, catalog_check ~250,
# verify ~215, verify_checks ~200, source_behaviour ~200, plugin ~140, source ~140,
# catalog ~95, runtime ~80, conflicts ~60, verdict ~45.
LONGEST = (E2E, "tests/test_catalog_check.py", "tests/test_verify.py",
           "tests/test_verify_checks.py", "tests/test_source_behaviour.py",
           "tests/test_plugin.py", "tests/test_source.py", "tests/test_catalog.py",
           "tests/test_runtime.py", "tests/test_conflicts.py", "tests/test_verdict.py")


def unit_of(nodeid: str) -> str:
    """The unit a test runs in: its file, or ``E2E`` for every end-to-end file."""
    path = nodeid.split("::", 1)[0]
    return E2E if path.rsplit("/", 1)[-1].startswith("test_e2e_") else path


def order(items: list) -> None:
    """Sort ``items`` in place, unit by unit: ``LONGEST``'s first, in its order, then the
    others with the most tests first; within a unit, as collected."""
    counts = Counter(unit_of(item.nodeid) for item in items)

    def rank(item) -> tuple[int, int]:
        unit = unit_of(item.nodeid)
        return (LONGEST.index(unit), 0) if unit in LONGEST else (len(LONGEST), -counts[unit])

    items.sort(key=rank)  # stable: a file's tests keep their order


def make_scheduler(config, log):
    """``loadfile`` with the end-to-end files as one unit, in the order collected."""
    from xdist.scheduler import LoadFileScheduling

    class LongestFirst(LoadFileScheduling):
        def __init__(self, config, log=None):
            super().__init__(config, log)
            config.option.loadscopereorder = False  # keep the collected order

        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

    return LongestFirst(config, log)
