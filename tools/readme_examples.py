"""The README's command examples, made by running the commands on a real vLLM release.

A block in README.md that follows a ``<!-- example: NAME -->`` line is the output of the
example NAME below, run now: ``tests/test_readme.py`` fails when a block and its command
disagree, and ``python tools/readme_examples.py --write`` puts the current output in.
The release tree comes from the user cache (fetched once, as every test's does); its
path is shown as the site-packages of a typical install.

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

_BLOCK = re.compile(r"(<!-- example: (?P<name>[\w.-]+) -->\n```console\n)(?P<body>.*?)(```)",
                    re.DOTALL)


def render(name: str) -> str:
    """``$ vllm-patches ARGS`` and what it prints with release ``V`` installed."""
    from vllm_patches.core.releases import release_tree

    args, version = EXAMPLES[name]
    tree = release_tree(version)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("VLLM_PATCHES") and k != "VLLM_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(tree), str(REPO)])
    env["COLUMNS"] = "200"
    proc = subprocess.run([sys.executable, "-m", "vllm_patches", *args], env=env,
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    out = proc.stdout.replace(str(tree), SHOWN_AS)
    return f"$ vllm-patches {' '.join(args)}\n{out}"


def blocks(text: str) -> dict[str, str]:
    """Each example block of the README: NAME -> its text."""
    return {m["name"]: m["body"] for m in _BLOCK.finditer(text)}


def rewritten(text: str) -> str:
    return _BLOCK.sub(lambda m: m[1] + render(m["name"]) + m[4], text)


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    if "--write" in argv:
        README.write_text(rewritten(text), encoding="utf-8")
        return 0
    for name, body in blocks(text).items():
        if body != render(name):
            print(f"README example {name!r} is stale: run python tools/readme_examples.py "
                  "--write", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
