"""Print pip constraints that pin each dependency pyproject.toml bounds from below to that bound.

.ci/run installs the project with these constraints in a second virtual environment and runs
the tests that use those dependencies again: the lower end of every declared range is tested,
not only the newest release the registry serves. Requirements without a lower bound (the test
extras' vLLM import needs) are left to the resolver.

    python tools/lowest_constraints.py [pyproject.toml] > lowest.txt
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from packaging.requirements import Requirement


def lowest(requirement: str) -> str | None:
    """``name==X`` for a requirement with a ``>=X`` bound whose marker holds here, else None."""
    req = Requirement(requirement)
    if req.marker is not None and not req.marker.evaluate():
        return None
    floors = [spec.version for spec in req.specifier if spec.operator == ">="]
    if not floors:
        return None
    if len(floors) > 1:
        raise SystemExit(f"{requirement}: more than one lower bound")
    return f"{req.name}=={floors[0]}"


def constraints(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"],
                    *(r for extra in project.get("optional-dependencies", {}).values()
                      for r in extra)]
    return sorted({c for c in map(lowest, requirements) if c is not None})


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent
                / "pyproject.toml")
    print("\n".join(constraints(path)))
