"""The record of source-mode applies: what it holds, and a clear error when it is corrupt."""

from __future__ import annotations

import json
import os

import pytest

from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.source.record import (
    Entry,
    FileRecord,
    Record,
    RecordError,
    load,
    parse,
    record_path,
    sha256_of,
)

FILE = "vllm/model.py"


def entry(patch_id: str, before: bytes = b"old\n", after: bytes = b"new\n",
          path: str = FILE) -> Entry:
    return Entry(patch_id, "0.1.0", "2026-11-24T00:00:00Z", "0.22.1", False,
                 {path: FileRecord(sha256_of(before), sha256_of(after))})


def test_no_record_reads_as_empty(tmp_path):
    assert load(tmp_path) == Record()


def test_record_survives_a_round_trip_through_its_file(tmp_path):
    record = Record().with_entry(entry("a")).with_entry(entry("b"))
    record_path(tmp_path).parent.mkdir()
    record_path(tmp_path).write_bytes(record.to_bytes())
    back = load(tmp_path)
    assert [e.patch_id for e in back.entries] == ["a", "b"]
    assert back.get("a").files == record.get("a").files
    assert back.get("a").to_dict() == record.get("a").to_dict()


def test_a_new_entry_of_the_same_patch_replaces_the_old_one_and_goes_last():
    record = Record().with_entry(entry("a")).with_entry(entry("b")).with_entry(entry("a"))
    assert [e.patch_id for e in record.entries] == ["b", "a"]
    assert [e.patch_id for e in record.without("b").entries] == ["a"]


def test_later_than_finds_a_later_patch_of_the_same_file():
    record = Record().with_entry(entry("a")).with_entry(entry("b", path="vllm/other.py")) \
        .with_entry(entry("c"))
    assert record.later_than("a", FILE).patch_id == "c"
    assert record.later_than("c", FILE) is None
    assert record.later_than("a", "vllm/other.py").patch_id == "b"


def test_a_second_patch_of_a_file_settles_the_first_entry_on_the_final_bytes():
    first = entry("a", b"v0\n", b"v1\n")
    record = Record().with_entry(first).settled(FILE, sha256_of(b"v1\n"), sha256_of(b"v2\n")) \
        .with_entry(entry("b", b"v1\n", b"v2\n"))
    assert record.get("a").files[FILE] == FileRecord(sha256_of(b"v0\n"), sha256_of(b"v2\n"))
    assert record.original(FILE) == sha256_of(b"v0\n") and record.original("vllm/x.py") is None


def test_a_record_that_names_the_bytes_between_two_patches_is_read_as_final(tmp_path):
    """vllm-patches 0.1.0 recorded the first patch's own after; the file went on to v2."""
    chain = Record((entry("a", b"v0\n", b"v1\n"), entry("b", b"v1\n", b"v2\n"),
                    entry("c", b"x\n", b"y\n", path="vllm/other.py")))
    record_path(tmp_path).parent.mkdir()
    record_path(tmp_path).write_bytes(chain.to_bytes())
    back = load(tmp_path)
    assert back.get("a").files[FILE].after == sha256_of(b"v2\n")
    assert back.get("b").files == chain.get("b").files
    assert back.get("c").files == chain.get("c").files
    assert parse(back.to_bytes(), record_path(tmp_path)) == back  # settled stays settled


def test_entry_tells_changed_and_restored_files(tmp_path):
    (tmp_path / "vllm").mkdir()
    e = entry("a")
    (tmp_path / FILE).write_bytes(b"new\n")
    assert e.changed_files(tmp_path) == [] and not e.restored(tmp_path)
    (tmp_path / FILE).write_bytes(b"old\n")
    assert e.changed_files(tmp_path) == [FILE] and e.restored(tmp_path)
    (tmp_path / FILE).write_bytes(b"edited\n")
    assert e.changed_files(tmp_path) == [FILE] and not e.restored(tmp_path)


@pytest.mark.parametrize("raw,problem", [
    (b"{not json", "Expecting property name"),
    (b"[]", "not a format-1 record"),
    (b'{"format": 2, "applied": []}', "not a format-1 record"),
    (b'{"format": 1, "applied": {}}', "'applied' is not a list"),
    (b'{"format": 1, "applied": [{"id": "a", "files": {}}]}', "has no files"),
    (json.dumps({"format": 1, "applied": [
        {"id": "a", "tool_version": "0.1.0", "applied_at": "t",
         "files": {FILE: {"before": "abc", "after": "def"}}}]}).encode(),
     "lacks a before/after sha256"),
    (Record().with_entry(entry("a")).to_bytes().replace(b'"id": "a"', b'"id": 3'),
     "lacks 'id'"),
    (b"\xff\xfe", "codec can't decode"),
])
def test_a_corrupt_record_is_one_clear_error(tmp_path, raw, problem):
    with pytest.raises(RecordError) as err:
        parse(raw, tmp_path / "record.json")
    message = str(err.value)
    assert problem in message and str(tmp_path / "record.json") in message
    assert "move it aside" in message


def test_a_patch_listed_twice_is_corrupt(tmp_path):
    one = json.loads(Record().with_entry(entry("a")).to_bytes())
    one["applied"] *= 2
    with pytest.raises(RecordError, match="listed twice"):
        parse(json.dumps(one).encode(), tmp_path / "record.json")


# Nothing in the record is trusted --------------------------------------------------
def with_file(path: object) -> bytes:
    """A record whose one entry names ``path``."""
    data = json.loads(Record().with_entry(entry("a")).to_bytes())
    data["applied"][0]["files"] = {path: data["applied"][0]["files"][FILE]}
    return json.dumps(data).encode()


def with_field(**fields: object) -> bytes:
    data = json.loads(Record().with_entry(entry("a")).to_bytes())
    data["applied"][0].update(fields)
    return json.dumps(data).encode()


@pytest.mark.parametrize("raw,problem", [
    (with_file("/etc/passwd.py"), "an absolute path"),
    (with_file("vllm/../../outside.py"), "leads outside the vLLM tree"),
    (with_file(".git/hooks/post-commit"), "under .git"),
    (with_file("vllm/.git/config.py"), "under .git"),
    (with_file("setup.py"), "is not under vllm/"),
    (with_file(".vllm-patches/record.json"), "is not under vllm/"),
    (with_file("vllm/README"), "is not a Python file under vllm/"),
    (with_file("vllm"), "is not a Python file under vllm/"),
    (with_file("vllm/./model.py"), "not a plain relative path"),
    (with_file("vllm/model.py\x00"), "control character"),
    (with_file("vllm/a\nb.py"), "control character"),
    (with_field(id="a\nSubject: injected"), "is not a patch id"),
    (with_field(id="../x"), "is not a patch id"),
    (with_field(id=""), "is not a patch id"),
    (with_field(applied_at="\x1b[2Jnow"), "'applied_at' of a is not a short line"),
    (with_field(tool_version="1" * 500), "'tool_version' of a is not a short line"),
    (with_field(vllm_version=["0.22.1"]), "'vllm_version' of a is not a short line"),
    (with_field(forced="no"), "'forced' of a is not true or false"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"format": 1, "applied": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "nested too deeply"),
])
def test_a_record_naming_what_vllm_patches_never_writes_is_corrupt(tmp_path, raw, problem):
    with pytest.raises(RecordError) as err:
        parse(raw, tmp_path / "record.json")
    message = str(err.value)
    assert problem in message and "move it aside" in message and "\n" not in message


@pytest.fixture
def tree(tmp_path):
    """A tree with vllm/model.py, and a folder beside it holding a file of the same bytes."""
    root = tmp_path / "tree"
    (root / "vllm").mkdir(parents=True)
    (root / FILE).write_bytes(b"new\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "model.py").write_bytes(b"new\n")
    return root


def planted(root, record: Record) -> None:
    record_path(root).parent.mkdir(exist_ok=True)
    record_path(root).write_bytes(record.to_bytes())


@pytest.mark.parametrize("link,rel", [
    ("vllm/evil", "vllm/evil/model.py"),  # a folder of the path
    ("vllm/evil.py", "vllm/evil.py"),  # the file itself
])
def test_a_record_naming_a_file_through_a_symlink_out_of_the_tree_is_corrupt(tree, link, rel):
    outside = tree.parent / "outside"
    (tree / link).symlink_to(outside if link.endswith("evil") else outside / "model.py")
    planted(tree, Record().with_entry(entry("a", path=rel)))
    with pytest.raises(RecordError, match="leads outside the vLLM tree"):
        load(tree)
    with pytest.raises(VllmPatchesError, match="leads outside the vLLM tree"):
        entry("a", path=rel).changed_files(tree)  # read through the guard each time, too
    with pytest.raises(VllmPatchesError, match="leads outside the vLLM tree"):
        entry("a", path=rel).restored(tree)


def test_a_record_that_is_a_symlink_out_of_the_tree_is_corrupt(tree):
    elsewhere = tree.parent / "outside" / "record.json"
    elsewhere.write_bytes(Record().with_entry(entry("a")).to_bytes())
    record_path(tree).parent.mkdir()
    record_path(tree).symlink_to(elsewhere)
    with pytest.raises(RecordError, match="leads outside the vLLM tree"):
        load(tree)


def test_a_record_that_is_a_fifo_is_corrupt_not_a_hang(tree):
    record_path(tree).parent.mkdir()
    os.mkfifo(record_path(tree))
    with pytest.raises(RecordError, match="is not a plain file"):
        load(tree)
