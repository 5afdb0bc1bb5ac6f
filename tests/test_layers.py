"""The package's imports keep to its layers (``tests/layers.py``) and run in no circle."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests import layers
from tests.helpers import REPO


def plant(root: Path, files: dict[str, str]) -> Path:
    """A package ``vllm_patches`` under ``root`` with ``files`` (relative path -> text) and
    an ``__init__.py`` in every folder."""
    package = root / "vllm_patches"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    for folder in [package, *(p for p in package.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    return package


def test_the_package_imports_nothing_upward_and_runs_in_no_circle():
    assert layers.problems(REPO / "vllm_patches") == []


def test_an_upward_import_is_found_at_module_level_in_a_function_and_for_type_checking(tmp_path):
    package = plant(tmp_path, {
        "core/state.py": """
            from typing import TYPE_CHECKING
            from vllm_patches.source.record import Record
            if TYPE_CHECKING:
                from vllm_patches.authoring import fingerprint
            def later():
                import vllm_patches.cli.main
        """,
        "source/record.py": "from ..core import state\nRecord = object\n",
        "authoring/fingerprint.py": "",
        "cli/main.py": "",
    })
    found = layers.problems(package)
    assert found == [
        "upward: vllm_patches.core.state:3 imports vllm_patches.source.record (core -> source)",
        "upward: vllm_patches.core.state:5 imports vllm_patches.authoring.fingerprint"
        " (core -> authoring)",
        "upward: vllm_patches.core.state:7 imports vllm_patches.cli.main (core -> cli)",
        "cycle: vllm_patches.core.state <-> vllm_patches.source.record",
    ]


def test_imports_the_table_allows_pass(tmp_path):
    package = plant(tmp_path, {
        "core/catalog.py": "from vllm_patches._version import __version__\n",
        "source/edit.py": "from vllm_patches.core import catalog\n",
        "backport/workflow.py": "from vllm_patches.source.edit import patch_text\n",
        "verify/checks.py": "from vllm_patches.runtime import patcher\n",
        "runtime/patcher.py": "from . import messages\n",
        "runtime/messages.py": "",
        "cli/main.py": "import vllm_patches.backport.workflow\n",
        "_version.py": "__version__ = '0'\n",
    })
    assert layers.problems(package) == []


def test_a_cycle_inside_one_layer_is_found(tmp_path):
    package = plant(tmp_path, {
        "cli/main.py": "from vllm_patches.cli import catalog\n",
        "cli/catalog.py": "def run():\n    from vllm_patches.cli.main import main\n",
        "core/a.py": "from vllm_patches.core.b import x\n",
        "core/b.py": "from .a import y\n",
    })
    cycle_cli = "cycle: vllm_patches.cli.catalog <-> vllm_patches.cli.main"
    cycle_core = "cycle: vllm_patches.core.a <-> vllm_patches.core.b"
    assert layers.problems(package) == [cycle_cli, cycle_core]


def test_every_subpackage_of_the_package_has_a_row_in_the_layer_table():
    subpackages = {p.parent.name for p in (REPO / "vllm_patches").glob("*/__init__.py")}
    assert subpackages <= set(layers.LAYERS)
