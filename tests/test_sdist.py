"""``core.sdist``: vLLM's sdist tests/ fetched through a simple index into the user cache.

The mechanics run against a local ``file://`` index (``tests/sdist_index.py``) or a local
HTTP server that the test writes, with the cache in ``tmp_path``: only ``tests/`` is kept,
the index's sha256 is required and checked, a hostile archive is refused, a failure leaves
nothing in the cache, and a second call reads the cache. The ``slow`` ones ask pip's
configuration (the suite's marker for tests that run pip) and the real index.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import tarfile
import threading

import pytest

from tests.sdist_index import sdist_bytes, write_index
from vllm_patches.core import sdist
from vllm_patches.core.files import CACHE_ENV
from vllm_patches.core.sdist import SdistError, read_manifest, sdist_tests

USER_CACHE = os.environ.get(CACHE_ENV)  # the real sdists go there, fetched once per machine
TESTS = {"tests/detokenizer/test_stop.py": "def test_stop():\n    assert True\n"}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def left_in(cache):
    """What a failed fetch left in the cache (nothing, when it tidied up)."""
    return sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*")) if cache.exists() \
        else []


@pytest.mark.parametrize("page", ["json", "html"])
def test_only_tests_is_kept_and_the_manifest_says_where_it_came_from(tmp_path, cache, page):
    index = write_index(tmp_path / "index", {"9.9.9": TESTS}, page=page)
    said = []
    folder = sdist_tests("9.9.9", indexes=[index], progress=said.append)
    assert folder == cache / "sdist-tests" / "9.9.9"
    assert sorted(p.name for p in folder.iterdir()) == [".complete", "manifest.json", "tests"]
    assert (folder / "tests" / "detokenizer" / "test_stop.py").read_text() == \
        TESTS["tests/detokenizer/test_stop.py"]
    assert (folder / "tests" / "utils.py").is_file()
    assert (folder / "tests" / "__init__.py").is_file()
    assert not list(cache.rglob("vllm")) and not list(cache.rglob("PKG-INFO"))
    data = (tmp_path / "index" / "files" / "vllm-9.9.9.tar.gz").read_bytes()
    assert read_manifest("9.9.9") == {"version": "9.9.9", "filename": "vllm-9.9.9.tar.gz",
                                      "sha256": hashlib.sha256(data).hexdigest(),
                                      "index": index}
    assert len(said) == 1 and "9.9.9" in said[0] and index in said[0]
    assert sdist.is_cached("9.9.9")


def test_a_second_call_reads_the_cache_even_when_the_index_is_gone(tmp_path):
    import shutil

    index = write_index(tmp_path / "index", {"9.9.9": TESTS})
    first = sdist_tests("9.9.9", indexes=[index])
    shutil.rmtree(tmp_path / "index")
    said = []
    assert sdist_tests("9.9.9", indexes=[index], progress=said.append) == first
    assert sdist_tests("9.9.9.0", indexes=[]) == first  # the same release, another spelling
    assert said == []


def test_the_version_may_be_spelt_another_way(tmp_path, cache):
    index = write_index(tmp_path / "index", {"9.9.0": TESTS})
    folder = sdist_tests("9.9", indexes=[index])
    assert folder.name == "9.9.0" and (folder / "tests" / "detokenizer").is_dir()
    assert read_manifest("9.9.0")["filename"] == "vllm-9.9.0.tar.gz"


def test_the_first_index_that_has_it_is_used(tmp_path):
    empty = write_index(tmp_path / "empty", {"1.0.0": {}})
    index = write_index(tmp_path / "index", {"9.9.9": TESTS})
    sdist_tests("9.9.9", indexes=[empty, str(tmp_path / "nowhere"), index])
    assert read_manifest("9.9.9")["index"] == index


def test_a_missing_version_is_one_sentence_naming_each_index(tmp_path, cache):
    index = write_index(tmp_path / "index", {"9.9.9": TESTS})
    nowhere = str(tmp_path / "nowhere")
    with pytest.raises(SdistError) as exc:
        sdist_tests("1.2.3", indexes=[index, nowhere])
    text = str(exc.value)
    assert "\n" not in text and text.endswith(").") and text.count(". ") == 0
    assert "vllm-1.2.3.tar.gz" in text and index in text and nowhere in text
    assert "no vllm page" in text
    assert left_in(cache) == []


def test_a_wrong_hash_is_refused_and_nothing_is_left(tmp_path, cache):
    index = write_index(tmp_path / "index", {"9.9.9": TESTS}, digest=lambda d: "0" * 64)
    with pytest.raises(SdistError, match="does not have the sha256"):
        sdist_tests("9.9.9", indexes=[index])
    assert left_in(cache) == []


@pytest.mark.parametrize("page", ["json", "html"])
def test_a_file_without_a_hash_is_refused(tmp_path, cache, page):
    index = write_index(tmp_path / "index", {"9.9.9": TESTS}, page=page, digest=lambda d: None)
    with pytest.raises(SdistError, match="without a sha256 hash"):
        sdist_tests("9.9.9", indexes=[index])
    assert left_in(cache) == []


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = ""):
    def add(tf, top):
        info = tarfile.TarInfo(name.format(top=top))
        info.type, info.linkname = kind, link
        data = b"x = 1\n" if kind == tarfile.REGTYPE else b""
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return add


@pytest.mark.parametrize(("extra", "says"), [
    (_member("{top}/tests/../../evil.py"), "leaves the archive's folder"),
    (_member("../evil.py"), "leaves the archive's folder"),
    (_member("/tmp/evil.py"), "is absolute"),
    (_member("{top}/tests/link.py", tarfile.SYMTYPE, "/etc/passwd"), "is not a regular file"),
    (_member("{top}/tests/hard.py", tarfile.LNKTYPE, "{top}/PKG-INFO"), "is not a regular file"),
    (_member("{top}/tests/dev", tarfile.CHRTYPE), "is not a regular file"),
    (_member("other-1.0/tests/x.py"), "more than one top-level folder"),
], ids=["dotdot-in-tests", "dotdot-at-top", "absolute", "symlink", "hardlink", "device",
        "two-tops"])
def test_a_hostile_archive_is_refused_and_nothing_is_written(tmp_path, cache, extra, says):
    index = write_index(tmp_path / "index", {"9.9.9": TESTS}, extra=extra)
    with pytest.raises(SdistError, match=says) as exc:
        sdist_tests("9.9.9", indexes=[index])
    assert "\n" not in str(exc.value) and "vllm-9.9.9.tar.gz" in str(exc.value)
    assert left_in(cache) == []
    assert not (tmp_path / "evil.py").exists() and not (tmp_path / "index" / "evil.py").exists()


def test_a_link_outside_tests_is_never_extracted_and_does_not_refuse(tmp_path, cache):
    index = write_index(tmp_path / "index", {"9.9.9": TESTS},
                        extra=_member("{top}/vllm/link.py", tarfile.SYMTYPE, "/etc/passwd"))
    folder = sdist_tests("9.9.9", indexes=[index])
    assert not list(folder.rglob("link.py"))


def test_an_archive_that_is_not_a_tarball_is_one_sentence(tmp_path, cache):
    root = tmp_path / "index"
    index = write_index(root, {"9.9.9": TESTS}, digest=lambda d: hashlib.sha256(b"junk")
                        .hexdigest())
    (root / "files" / "vllm-9.9.9.tar.gz").write_bytes(b"junk")
    with pytest.raises(SdistError, match="is refused: it cannot be read"):
        sdist_tests("9.9.9", indexes=[index])
    assert left_in(cache) == []


def test_a_file_over_the_size_bound_is_not_downloaded(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(sdist, "SDIST_LIMIT", 100)
    index = write_index(tmp_path / "index", {"9.9.9": TESTS})
    with pytest.raises(SdistError, match="larger than"):
        sdist_tests("9.9.9", indexes=[index])
    assert left_in(cache) == []


@pytest.mark.parametrize("bad", ["not json", json.dumps([1]),
                                 json.dumps({"version": "9.9.9", "filename": "x",
                                             "sha256": "nope", "index": "i"})])
def test_an_unusable_manifest_reads_as_none(tmp_path, bad):
    index = write_index(tmp_path / "index", {"9.9.9": TESTS})
    folder = sdist_tests("9.9.9", indexes=[index])
    (folder / "manifest.json").write_text(bad)
    assert read_manifest("9.9.9") is None
    assert read_manifest("1.0.0") is None  # not cached


# An HTTP index: PEP 691 JSON asked for, PEP 503 HTML understood -------------------------
class _Index(http.server.BaseHTTPRequestHandler):
    """Serves /simple/vllm/ (JSON when asked for, else HTML) and /files/<sdist>."""

    pages: dict[str, bytes] = {}
    accepts: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.accepts.append(self.headers.get("Accept", ""))
        wants_json = "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", "")
        key = self.path + (" json" if wants_json and self.path.endswith("/") else "")
        if key not in self.pages:
            key = self.path
        body = self.pages.get(key)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        kind = "application/vnd.pypi.simple.v1+json" if key.endswith(" json") else "text/html"
        self.send_header("Content-Type", kind if self.path.endswith("/") else
                         "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_index():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    _Index.pages, _Index.accepts = {}, []
    yield f"http://127.0.0.1:{server.server_port}", _Index
    server.shutdown()
    server.server_close()


def _serve(handler, base, *, json_page=True, html_page=True, url=None):
    data = sdist_bytes("9.9.9", TESTS)
    sha = hashlib.sha256(data).hexdigest()
    handler.pages["/files/vllm-9.9.9.tar.gz"] = data
    href = url or "../../files/vllm-9.9.9.tar.gz"
    if json_page:
        handler.pages["/simple/vllm/ json"] = json.dumps({"meta": {"api-version": "1.1"},
            "name": "vllm", "files": [{"filename": "vllm-9.9.9.tar.gz", "url": href,
                                       "hashes": {"sha256": sha}}]}).encode()
    if html_page:
        handler.pages["/simple/vllm/"] = (f'<a href="{href}#sha256={sha}">vllm-9.9.9.tar.gz</a>'
                                          .encode())


@pytest.mark.parametrize("json_page", [True, False], ids=["json", "html-only"])
def test_an_http_index_is_asked_for_json_and_its_html_is_understood(http_index, json_page):
    base, handler = http_index
    _serve(handler, base, json_page=json_page)
    folder = sdist_tests("9.9.9", indexes=[f"{base}/simple"])
    assert (folder / "tests" / "detokenizer" / "test_stop.py").is_file()
    assert handler.accepts[0].startswith("application/vnd.pypi.simple.v1+json")


def test_a_remote_index_that_points_at_a_local_file_is_not_followed(http_index, tmp_path):
    base, handler = http_index
    local = tmp_path / "vllm-9.9.9.tar.gz"
    local.write_bytes(sdist_bytes("9.9.9", TESTS))
    _serve(handler, base, url=local.as_uri())
    with pytest.raises(SdistError, match="no vllm-9.9.9.tar.gz"):
        sdist_tests("9.9.9", indexes=[f"{base}/simple"])


def test_an_index_that_answers_404_is_said(http_index):
    base, _ = http_index
    with pytest.raises(SdistError, match="HTTP 404"):
        sdist_tests("9.9.9", indexes=[f"{base}/simple"])


def test_a_password_in_an_index_url_is_never_shown():
    assert sdist.shown("https://me:secret@example.invalid/simple") == \
        "https://example.invalid/simple"


# pip's configuration ---------------------------------------------------------------------
def test_the_environment_wins_over_download_over_install_over_global():
    config = {"global.index-url": "g", "install.index-url": "i", "download.index-url": "d",
              ":env:.index-url": "e", "global.extra-index-url": "x y"}
    assert sdist._setting(config, "index-url", "") == "e"
    del config[":env:.index-url"]
    assert sdist._setting(config, "index-url", "") == "d"
    del config["download.index-url"]
    assert sdist._setting(config, "index-url", "") == "i"
    assert sdist._setting(config, "extra-index-url", "") == "x y"
    assert sdist._setting(config, "no-index", "-") == "-"


@pytest.mark.slow
def test_pip_index_url_in_the_environment_is_the_index_asked(tmp_path, monkeypatch, cache):
    index = write_index(tmp_path / "index", {"9.9.9": TESTS}, page="html")
    monkeypatch.setenv("PIP_INDEX_URL", index)
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", f"{tmp_path / 'a'}\n{tmp_path / 'b'}")
    assert sdist.pip_indexes() == [index, str(tmp_path / "a"), str(tmp_path / "b")]
    assert (sdist_tests("9.9.9") / "tests" / "utils.py").is_file()
    assert read_manifest("9.9.9")["index"] == index


@pytest.mark.slow
def test_a_config_file_index_is_asked_and_the_environment_wins_over_it(tmp_path, monkeypatch):
    index = write_index(tmp_path / "index", {"9.9.9": TESTS})
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {tmp_path / 'global'}\n"
                    f"[download]\nindex-url = {index}\nextra-index-url =\n  {tmp_path / 'x'}\n")
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    assert sdist.pip_indexes() == [index, str(tmp_path / "x")]
    assert sdist_tests("9.9.9").is_dir()
    monkeypatch.setenv("PIP_INDEX_URL", str(tmp_path / "env"))
    assert sdist.pip_indexes()[0] == str(tmp_path / "env")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(SdistError, match="no-index"):
        sdist.pip_indexes()


@pytest.mark.slow
def test_without_an_index_url_pip_s_own_default_is_asked_first(tmp_path, monkeypatch):
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\ntimeout = 60\n")
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    assert sdist.pip_indexes()[0] == "https://pypi.org/simple"  # as pip download --help says


@pytest.mark.slow
def test_the_real_0_27_0_sdist_holds_upstream_s_stop_string_test(monkeypatch):
    """Through pip's configured index into the normal user cache (fetched once per machine)."""
    if USER_CACHE is None:
        monkeypatch.delenv(CACHE_ENV)
    else:
        monkeypatch.setenv(CACHE_ENV, USER_CACHE)
    folder = sdist_tests("0.27.0")
    assert (folder / "tests" / "detokenizer" / "test_check_stop_strings.py").is_file()
    assert (folder / "tests" / "utils.py").is_file() and not (folder / "vllm").exists()
    assert read_manifest("0.27.0")["filename"] == "vllm-0.27.0.tar.gz"
