"""The README's command examples and generated tables, made by running the commands.

A block in README.md that follows a ``<!-- example: NAME -->`` line is the output of the
example NAME below, run now on a real vLLM release; the Markdown between
``<!-- table: NAME -->`` and ``<!-- end table -->`` is what the command of table NAME
prints (the catalogue table: ``vllm-patches catalog list --markdown``).
``tests/test_readme.py`` fails when a block and its command disagree, and
``python tools/readme_examples.py --write`` puts the current output in. The release
tree comes from the user cache (fetched once, as every test's does); its path is shown
as the site-packages of a typical install.

    python tools/readme_examples.py            # exit 1 and the first difference when stale
    python tools/readme_examples.py --write    # rewrite the blocks
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
SHOWN_AS = "/srv/venv/lib/python3.12/site-packages"

# NAME: (the command line shown, the release installed for it)
EXAMPLES = {
    "status": (["status"], "0.22.1"),
}

# NAME: the command line whose Markdown output is the table (the built-in catalogue only)
TABLES = {
    "catalogue": ["catalog", "list", "--markdown"],
}

_BLOCK = re.compile(r"(<!-- example: (?P<name>[\w.-]+) -->\n```console\n)(?P<body>.*?)(```)",
                    re.DOTALL)
_TABLE = re.compile(r"(<!-- table: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- end table -->)",
                    re.DOTALL)


def _run(args: list[str], *path: Path) -> str:
    """What ``vllm-patches ARGS`` prints with ``path`` first on the Python path, and no
    user catalogue or plugin setting of this shell."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("VLLM_PATCHES") and k != "VLLM_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([*map(str, path), str(REPO)])
    env["COLUMNS"] = "200"
    proc = subprocess.run([sys.executable, "-m", "vllm_patches", *args], env=env,
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    return proc.stdout


def render(name: str) -> str:
    """``$ vllm-patches ARGS`` and what it prints with release ``V`` installed."""
    from vllm_patches.core.releases import release_tree

    args, version = EXAMPLES[name]
    tree = release_tree(version)
    out = _run(args, tree).replace(str(tree), SHOWN_AS)
    return f"$ vllm-patches {' '.join(args)}\n{out}"


def render_table(name: str) -> str:
    """The Markdown that the command of table NAME prints."""
    return _run(TABLES[name])


def blocks(text: str) -> dict[str, str]:
    """Each example block of the README: NAME -> its text."""
    return {m["name"]: m["body"] for m in _BLOCK.finditer(text)}


def tables(text: str) -> dict[str, str]:
    """Each generated table of the README: NAME -> its Markdown."""
    return {m["name"]: m["body"] for m in _TABLE.finditer(text)}


def rewritten(text: str) -> str:
    text = _BLOCK.sub(lambda m: m[1] + render(m["name"]) + m[4], text)
    return _TABLE.sub(lambda m: m[1] + render_table(m["name"]) + m[4], text)


def stale(text: str) -> list[str]:
    """The names of the blocks and tables that their commands no longer print."""
    return [*(name for name, body in blocks(text).items() if body != render(name)),
            *(name for name, body in tables(text).items() if body != render_table(name))]


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    if "--write" in argv:
        README.write_text(rewritten(text), encoding="utf-8")
        return 0
    names = stale(text)
    if names:
        print(f"README {', '.join(names)} stale: run python tools/readme_examples.py --write",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
