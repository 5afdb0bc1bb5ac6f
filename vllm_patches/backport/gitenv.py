"""The one environment every git command of ``backport`` runs in: the repository's
configured commands never run.

A fork repository is someone else's content: its ``.git/config`` (and the
``.gitattributes`` committed on its branches) can name commands that git would
run for an ordinary ``worktree add``, ``cherry-pick``, ``commit`` or ``diff``.
``environment(cwd)`` gives the variables that turn them off, as command-line
configuration (``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_<n>``/``GIT_CONFIG_VALUE_<n>``,
which outrank every config file and reach git's own child processes):

- ``FIXED``, always: no fsmonitor, no hooks, no signing and no signature checks
  (so ``gpg.program`` never runs), no pager, editor, askpass or credential
  helper, no automatic gc or maintenance, no submodule recursion, and no
  transport at all (``protocol.allow=never``), so ``core.sshCommand``,
  ``core.gitProxy`` and ``remote.*.uploadpack`` cannot run either;
- ``NAMED``, for each name the configuration defines (read with ``git config
  --list`` in ``cwd`` just before the command, so an include that applies there
  counts): every ``filter.<name>`` loses its clean, smudge and process commands
  and is not required, every ``merge.<name>`` driver becomes git's own
  ``git merge-file``, every ``protocol.<name>.allow`` is ``never``, every
  ``hook.<name>`` (git 2.54's hooks named in config, which ``core.hooksPath``
  does not reach) is disabled with no events, and every ``pager.<command>`` is
  off;
- ``ENV``: ``GIT_TERMINAL_PROMPT=0``, ``GIT_EDITOR``/``GIT_SEQUENCE_EDITOR=:``
  (git's "no editor"), ``GIT_PAGER=cat``, ``GIT_ASKPASS`` empty, and git's
  messages in English (``LC_ALL=C``), as GitPython sets them.

Diff drivers (``diff.external``, ``diff.<name>.command`` and ``.textconv``)
are not overridden (git would try to run an empty value as a command): they
run only for patch output, which backport never asks for, and its own ``git
diff`` calls pass ``--no-ext-diff --no-textconv`` too (``DIFF_SAFE``).

GitPython's commands get this environment through ``gitrepo``'s runner;
``run`` is the runner for the few commands backport starts itself.
"""

from __future__ import annotations

import os
import subprocess

MERGE_FILE = "git merge-file --marker-size=%L -L ours -L base -L theirs %A %O %B"

FIXED: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", os.devnull),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("tag.forceSignAnnotated", "false"),
    ("push.gpgSign", "false"),
    ("log.showSignature", "false"),
    ("merge.verifySignatures", "false"),
    ("core.pager", "cat"),
    ("core.editor", ":"),
    ("sequence.editor", ":"),
    ("core.askPass", ""),
    ("credential.helper", ""),  # the empty value empties the list of helpers
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("submodule.recurse", "false"),
    ("protocol.allow", "never"),
)

# section -> (key, value) for every ``<section>.<name>.*`` the configuration defines
NAMED: dict[str, tuple[tuple[str, str], ...]] = {
    "filter": (("clean", ""), ("smudge", ""), ("process", ""), ("required", "false")),
    "merge": (("driver", MERGE_FILE),),
    "protocol": (("allow", "never"),),
    "hook": (("enabled", "false"), ("event", "")),  # git 2.54's hooks named in config
}
# section -> value for every two-level ``<section>.<name>`` the configuration defines
NAMED_KEYS: dict[str, str] = {"pager": "false"}

ENV: dict[str, str] = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_EDITOR": ":",
    "GIT_SEQUENCE_EDITOR": ":",
    "GIT_PAGER": "cat",
    "GIT_ASKPASS": "",
    "LANGUAGE": "C",
    "LC_ALL": "C",
}

DIFF_SAFE = ("--no-ext-diff", "--no-textconv")


class ConfigUnreadable(Exception):
    """``git config --list`` failed (a damaged config file): no command can be made safe."""


def git_executable() -> str:
    """The git that GitPython runs (``$GIT_PYTHON_GIT_EXECUTABLE``, else ``git``)."""
    return os.environ.get("GIT_PYTHON_GIT_EXECUTABLE") or "git"


def environment(cwd: str | os.PathLike | None) -> dict[str, str]:
    """The variables to add to ``os.environ`` for a git command run in ``cwd``."""
    names = _defined_names(_config_keys(_usable(cwd)))
    return {**ENV, **_config_env(list(FIXED) + names)}


def run(args: list[str], cwd: str | os.PathLike | None) -> subprocess.CompletedProcess:
    """``git ARGS`` in ``cwd`` in that environment; bytes out, never raises for its status."""
    env = {**os.environ, **environment(cwd)}
    return subprocess.run([git_executable(), *args], cwd=_usable(cwd), env=env,
                          capture_output=True, stdin=subprocess.DEVNULL)


def _usable(cwd) -> str | None:
    """``cwd`` when it is a folder we can enter, else None (the process's own), as GitPython."""
    if cwd is None:
        return None
    cwd = os.fspath(cwd)
    return cwd if os.path.isdir(cwd) and os.access(cwd, os.X_OK) else None


def _config_keys(cwd: str | None) -> list[str]:
    """The names of every configuration entry git sees in ``cwd`` (all scopes, includes)."""
    env = {**os.environ, **ENV, **_config_env(list(FIXED))}
    proc = subprocess.run([git_executable(), "config", "--list", "-z"], cwd=cwd, env=env,
                          capture_output=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        lines = os.fsdecode(proc.stderr).strip().splitlines()
        raise ConfigUnreadable(lines[0].removeprefix("fatal: ") if lines
                               else f"git config exited {proc.returncode}")
    return [os.fsdecode(entry.partition(b"\n")[0]) for entry in proc.stdout.split(b"\0") if entry]


def _defined_names(keys: list[str]) -> list[tuple[str, str]]:
    """The overrides of ``NAMED`` and ``NAMED_KEYS`` for the names in ``keys``."""
    out: dict[str, str] = {}
    for key in keys:
        section, _, rest = key.partition(".")
        middle, _, _ = rest.rpartition(".")
        if middle and section in NAMED:
            for name, value in NAMED[section]:
                out[f"{section}.{middle}.{name}"] = value
        elif not middle and rest and section in NAMED_KEYS:
            out[key] = NAMED_KEYS[section]
    return list(out.items())


def _config_env(entries: list[tuple[str, str]]) -> dict[str, str]:
    """``entries`` as ``GIT_CONFIG_*`` variables, after any the caller's environment has."""
    try:
        start = int(os.environ.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        start = 0
    env = {"GIT_CONFIG_COUNT": str(start + len(entries))}
    for i, (key, value) in enumerate(entries, start):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env
