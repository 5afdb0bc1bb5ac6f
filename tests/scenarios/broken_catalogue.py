"""Point vllm-patches at another catalogue folder, then use it as a host process or vLLM does.

``broken_catalogue.py DIR MODE [ARGS...]``, with MODE:
  apply      ``vllm_patches.apply()`` (its outcomes), then once more (no new warning)
  apply-ids  ``vllm_patches.apply([METHOD's id, "broken-entry", "no-such"])``
  plugin     ``vllm.plugins.load_general_plugins()``, then import METHOD's module
(METHOD: the synthetic method wrap of tests/synthetic.py)
  cli        the ``vllm-patches`` command line with ARGS

The package (its loader and the plugin's import hook) finds its catalogue through
``catalog_files.find_catalog_dir()`` alone; the scenario replaces that function before
anything loads the catalogue.

Prints {"outcomes": {id: outcome}, "patched": [ids marked on METHOD's class],
"error": "Type: message" or null}
(not in cli mode, which exits as the command line does).
"""

import json
import sys
from pathlib import Path

from marks import MODULE, patched_ids

from tests.synthetic import METHOD


def main(folder: str, mode: str, args: list[str]) -> dict:
    from vllm_patches.core import catalog_files
    catalog_files.find_catalog_dir = lambda: str(Path(folder))
    if mode == "cli":
        from vllm_patches.cli.main import cli

        cli(args, prog_name="vllm-patches")
    import vllm_patches

    outcomes, error = {}, None
    try:
        if mode == "apply":
            outcomes = {o.id: o.outcome for o in vllm_patches.apply()}
            vllm_patches.apply()
        elif mode == "apply-ids":
            outcomes = {o.id: o.outcome for o in vllm_patches.apply(
                [METHOD.id, "broken-entry", "no-such"])}
        elif mode == "plugin":
            from vllm.plugins import load_general_plugins

            load_general_plugins()
            __import__(MODULE)
        else:
            raise SystemExit(f"unknown mode {mode}")
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    return {"outcomes": outcomes, "patched": patched_ids(), "error": error}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3:])))
