"""Sources: read-only byte ranges of image files and block devices."""

from __future__ import annotations

import fcntl
import os
import stat
import sys
from pathlib import Path

import pytest

from lvmread.errors import LvmIOError
from lvmread.inputs.source import BLKGETSIZE64, BLKSSZGET, open_input

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@pytest.fixture
def image(tmp_path: Path) -> Path:
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(range(256)) * 32)  # 8192 bytes, byte i holds i % 256
    return img


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Records every os.open as (path, flags)."""
    calls: list[tuple[str, int]] = []
    real_open = os.open

    def recording_open(path, flags, *args, **kwargs):
        calls.append((os.fspath(path), flags))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    return calls


def test_whole_file(image: Path) -> None:
    with open_input(image) as infile:
        whole = infile.whole
        assert (whole.path, whole.name, whole.start, whole.size) == (str(image), str(image), 0,
                                                                     8192)
        assert whole.partition is None and whole.sector_size is None
        assert whole.pread(4, 254) == bytes([254, 255, 0, 1])
        assert whole.pread(0, 8192) == b""
        assert whole.pread(8192, 0) == image.read_bytes()


def test_opened_read_only_once(image: Path, opens: list[tuple[str, int]]) -> None:
    infile = open_input(str(image))
    part = infile.source(1024, 2048, 2)
    other = infile.source(4096, 512, 5)
    assert part.pread(2, 0) == bytes([0, 1])
    assert other.pread(1, 3) == bytes([3])
    assert len(opens) == 1
    path, flags = opens[0]
    assert path == str(image)
    assert flags & os.O_ACCMODE == os.O_RDONLY
    assert flags & WRITE_FLAGS == 0
    assert part.file is other.file is infile


def test_partition_source(image: Path) -> None:
    with open_input(image) as infile:
        part = infile.source(1024 + 3, 100, 2)
        assert part.name == f"{image}@p2" and part.path == str(image)
        assert (part.start, part.size, part.partition) == (1027, 100, 2)
        assert part.pread(2, 0) == bytes([3, 4])
        with pytest.raises(LvmIOError, match="outside") as info:
            part.pread(2, 99)
        assert info.value.file == str(image) and info.value.offset == 1027 + 99
        with pytest.raises(LvmIOError):
            part.pread(1, -1)


def test_close_shared(image: Path) -> None:
    infile = open_input(image)
    part = infile.source(512, 512, 1)
    fd = infile.fd
    with part:
        pass
    assert infile.closed
    with pytest.raises(OSError):
        os.fstat(fd)
    with pytest.raises(LvmIOError, match="closed"):
        infile.whole.pread(1, 0)
    infile.close()  # again: no error


def test_short_read_names_file_and_offset(image: Path) -> None:
    with open_input(image) as infile:
        part = infile.source(4096, 4096, 3)  # matches the file size now
        os.truncate(image, 5000)  # the image shrinks under us
        assert part.pread(16, 0) == bytes(range(16))
        with pytest.raises(LvmIOError, match="short read") as info:
            part.pread(512, 512)
        err = info.value
        assert err.file == str(image) and err.offset == 4096 + 512
        assert str(err).startswith(f"{image}: offset 4608: short read: only 392 of 512 bytes")


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.img"
    with pytest.raises(LvmIOError) as info:
        open_input(missing)
    assert str(info.value) == f"{missing}: cannot open: No such file or directory"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(LvmIOError) as info:
        open_input(tmp_path)
    assert str(info.value) == f"{tmp_path}: cannot open: is a directory"


def test_fifo_not_opened(tmp_path: Path, opens: list[tuple[str, int]]) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(LvmIOError, match="not a regular file or block device"):
        open_input(fifo)
    assert opens == []  # opening a FIFO would have blocked


def test_permission_denied(image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path, flags, *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(LvmIOError) as info:
        open_input(image)
    assert str(info.value) == f"{image}: cannot open: Permission denied"


def test_block_device(image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Size and sector size of a block device come from ioctls (faked here on a file)."""
    ino = os.stat(image).st_ino
    real_stat, real_fstat = os.stat, os.fstat

    def as_block_device(st: os.stat_result) -> os.stat_result:
        if st.st_ino != ino:
            return st
        fields = list(st)
        fields[0] = stat.S_IFBLK | 0o660
        fields[6] = 0  # st_size of a block device
        return os.stat_result(fields)

    def fake_ioctl(fd: int, request: int, arg: bytes) -> bytes:
        assert real_fstat(fd).st_ino == ino
        value = {BLKGETSIZE64: 4096, BLKSSZGET: 4096}[request]
        return value.to_bytes(len(arg), sys.byteorder)

    monkeypatch.setattr(os, "stat", lambda p, *a, **k: as_block_device(real_stat(p, *a, **k)))
    monkeypatch.setattr(os, "fstat", lambda fd: as_block_device(real_fstat(fd)))
    monkeypatch.setattr(fcntl, "ioctl", fake_ioctl)
    with open_input(image) as infile:
        assert infile.size == infile.whole.size == 4096
        assert infile.sector_size == infile.whole.sector_size == 4096
        assert infile.source(512, 512, 1).sector_size == 4096
        assert infile.whole.pread(2, 4094) == bytes([254, 255])

