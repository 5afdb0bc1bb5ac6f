"""A local simple index that serves synthetic vLLM sdists, for the tests of ``core.sdist``.

``write_index(root, {"9.9.9": {"tests/utils.py": "..."}})`` writes ``root/files/`` with
``vllm-9.9.9.tar.gz`` (a top folder ``vllm-9.9.9/`` holding ``PKG-INFO``, ``vllm/`` and
the files given) and ``root/simple/vllm/index.json`` or ``index.html`` listing it with its
sha256, and returns the index's ``file://`` URL.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

BASE = {
    "PKG-INFO": "Metadata-Version: 2.1\nName: vllm\n",
    "vllm/__init__.py": "__version__ = 'synthetic'\n",
    "tests/__init__.py": "",
    "tests/utils.py": "def helper():\n    return 1\n",
}


def sdist_bytes(version: str, files: dict[str, str],
                extra: Callable[[tarfile.TarFile, str], None] | None = None) -> bytes:
    """A gzip tarball ``vllm-<version>/...`` with ``BASE`` and ``files``; ``extra(tf, top)``
    may add members of its own (a link, a ``../`` name)."""
    buf = io.BytesIO()
    top = f"vllm-{version}"
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, text in {**BASE, **files}.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if extra is not None:
            extra(tf, top)
    return buf.getvalue()


def write_index(root: Path, sdists: dict[str, dict[str, str]], *, page: str = "json",
                digest: Callable[[bytes], str | None] | None = None,
                extra: Callable[[tarfile.TarFile, str], None] | None = None) -> str:
    """Write the sdists and a project page (``page``: "json" or "html") listing them;
    ``digest(data)`` gives the sha256 the page states (default: the true one; None: none).
    Returns the index URL."""
    files = root / "files"
    project = root / "simple" / "vllm"
    files.mkdir(parents=True, exist_ok=True)
    project.mkdir(parents=True, exist_ok=True)
    listed = []
    for version, contents in sdists.items():
        data = sdist_bytes(version, contents, extra)
        name = f"vllm-{version}.tar.gz"
        (files / name).write_bytes(data)
        sha = (digest or (lambda d: hashlib.sha256(d).hexdigest()))(data)
        listed.append((name, f"../../files/{name}", sha))
    if page == "json":
        entries = [{"filename": n, "url": u, "hashes": {"sha256": s} if s else {}}
                   for n, u, s in listed]
        (project / "index.json").write_text(json.dumps({"meta": {"api-version": "1.0"},
                                                        "name": "vllm", "files": entries}))
    else:
        anchors = "".join(f'<a href="{u}{"#sha256=" + s if s else ""}">{n}</a>\n'
                          for n, u, s in listed)
        (project / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{anchors}</body></html>")
    return (root / "simple").as_uri()
