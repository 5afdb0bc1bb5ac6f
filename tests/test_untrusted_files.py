"""The one reader for files vllm-patches does not own (core.files.read_untrusted)."""

import os
import socket
import threading

import pytest

from vllm_patches.core.files import (
    NotOurs,
    NotPlainFile,
    TooLarge,
    read_untrusted,
    untrusted_problem,
)


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "own"
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    return path


def test_a_plain_file_is_read_whole(folder):
    (folder / "f").write_bytes(b"x" * 3_000_000)
    assert read_untrusted(folder / "f") == b"x" * 3_000_000
    assert read_untrusted(folder / "f", evidence=True) == b"x" * 3_000_000


def test_a_symlink_is_never_followed_even_to_a_plain_file(folder):
    (folder / "real").write_text("data")
    (folder / "link").symlink_to(folder / "real")
    with pytest.raises(NotPlainFile) as info:
        read_untrusted(folder / "link")
    assert untrusted_problem(info.value) == "is not a plain file (a symlink)"


def test_a_fifo_is_refused_at_once_without_a_writer(folder):
    os.mkfifo(folder / "fifo")
    done = []
    worker = threading.Thread(target=lambda: done.append(_refusal(folder / "fifo")), daemon=True)
    worker.start()
    worker.join(5)
    assert done == ["is not a plain file (a FIFO)"]  # empty if the read blocked


def _refusal(path):
    try:
        read_untrusted(path)
    except OSError as exc:
        return untrusted_problem(exc)
    return "read"


def test_a_device_a_folder_and_a_socket_are_refused(folder):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(folder / "sock"))
        for path, kind in (("/dev/zero", "a device"), (folder, "a folder"),
                           (folder / "sock", "a socket")):
            with pytest.raises(NotPlainFile) as info:
                read_untrusted(path)
            assert untrusted_problem(info.value) == f"is not a plain file ({kind})"


def test_a_link_to_dev_zero_is_refused(folder):
    (folder / "zero").symlink_to("/dev/zero")
    with pytest.raises(NotPlainFile):
        read_untrusted(folder / "zero")


def test_a_file_past_the_bound_is_refused(folder):
    (folder / "big").write_bytes(b"y" * 2049)
    with pytest.raises(TooLarge):
        read_untrusted(folder / "big", limit=2048)
    (folder / "big").write_bytes(b"y" * 2048)
    assert len(read_untrusted(folder / "big", limit=2048)) == 2048


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_evidence_owned_by_another_user_is_refused(folder):
    (folder / "report").write_text("{}\n")
    os.chown(folder / "report", 4321, 4321)
    assert read_untrusted(folder / "report") == b"{}\n"  # as plain data it is readable
    with pytest.raises(NotOurs) as info:
        read_untrusted(folder / "report", evidence=True)
    assert "owned by another user" in untrusted_problem(info.value)


def test_evidence_writable_by_others_is_refused(folder):
    (folder / "report").write_text("{}\n")
    (folder / "report").chmod(0o666)
    with pytest.raises(NotOurs, match="writable by other users"):
        read_untrusted(folder / "report", evidence=True)


def test_evidence_in_a_folder_others_can_write_is_refused_unless_sticky(folder):
    (folder / "report").write_text("{}\n")
    folder.chmod(0o777)
    with pytest.raises(NotOurs, match="folder where other users can replace it"):
        read_untrusted(folder / "report", evidence=True)
    folder.chmod(0o1777)  # as /tmp: only the owner may rename or remove it
    assert read_untrusted(folder / "report", evidence=True) == b"{}\n"


def test_a_missing_file_passes_through(folder):
    with pytest.raises(FileNotFoundError):
        read_untrusted(folder / "none")
