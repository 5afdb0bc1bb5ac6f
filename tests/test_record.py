"""The record of source-mode applies: what it holds, and a clear error when it is corrupt."""

from __future__ import annotations

import json

import pytest

from vllm_patches.record import (Entry, FileRecord, Record, RecordError, load, parse,
                                 record_path, sha256_of)

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
