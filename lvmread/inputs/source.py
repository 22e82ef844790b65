"""Read-only access to inputs: image files and block devices, whole or in part.

An :class:`InputFile` owns the one file descriptor of an input, opened with
``O_RDONLY`` only; every :class:`Source` (the whole input, or one partition of
it) reads through that descriptor with ``os.pread``.
"""

from __future__ import annotations

import fcntl
import os
import stat
import sys

from ..errors import LvmIOError

BLKGETSIZE64 = 0x80081272  # ioctl: size of a block device in bytes (u64)
BLKSSZGET = 0x1268  # ioctl: logical sector size of a block device (int)


class InputFile:
    """One opened input; owns the file descriptor shared by all its sources."""

    def __init__(self, path: str, fd: int, size: int, sector_size: int | None) -> None:
        self.path = path
        self.fd = fd
        self.size = size
        #: Logical sector size of a block device; None for image files (unknown).
        self.sector_size = sector_size
        #: The whole input as a :class:`Source`.
        self.whole = Source(self, 0, size)

    def source(self, start: int, size: int, partition: int | None = None) -> Source:
        """A :class:`Source` for ``size`` bytes at byte ``start`` of this input."""
        return Source(self, start, size, partition)

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def pread(self, length: int, offset: int) -> bytes:
        """Read exactly ``length`` bytes at absolute ``offset``; LvmIOError if short."""
        if self.closed:
            raise LvmIOError("read from a closed input", file=self.path, offset=offset)
        chunks = []
        got = 0
        while got < length:
            try:
                chunk = os.pread(self.fd, length - got, offset + got)
            except OSError as e:
                raise LvmIOError(f"read error: {e.strerror}", file=self.path,
                                 offset=offset + got) from None
            if not chunk:
                raise LvmIOError(
                    f"short read: only {got} of {length} bytes present (truncated image?)",
                    file=self.path, offset=offset)
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """Close the file descriptor (idempotent); all sources of this input stop working."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def __enter__(self) -> InputFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"InputFile({self.path!r}, size={self.size}, sector_size={self.sector_size})"


def input_name(path: str, partition: int | None = None) -> str:
    """The name of an input, or of its partition N, unique per (path, partition).

    The path, or ``path@pN`` for partition N; a path ending in ``@pN`` or ``@`` has that
    last run of ``@`` doubled: ``X@@p1`` is the file ``X@p1``, ``X@p1`` partition 1 of
    ``X`` (other paths are unchanged).
    """
    name = path
    if name.endswith("@") or "@p" in name:
        digits = len(name) - len(name.rstrip("0123456789"))
        tail = f"p{name[-digits:]}" if digits and name[:-digits].endswith("@p") else ""
        stem = name[: len(name) - len(tail)]
        if stem.endswith("@"):
            name = stem + "@" * (len(stem) - len(stem.rstrip("@"))) + tail
    return name if partition is None else f"{name}@p{partition}"


class Source:
    """A read-only byte range ``[start, start + size)`` of an input.

    ``name`` names it in listings, messages and tables (:func:`input_name`): the path, or
    ``path@pN`` for partition N.
    """

    def __init__(self, file: InputFile, start: int, size: int,
                 partition: int | None = None) -> None:
        self.file = file
        self.path = file.path
        self.start = start
        self.size = size
        self.partition = partition
        self.name = input_name(file.path, partition)

    @property
    def sector_size(self) -> int | None:
        """Logical sector size of the underlying block device, None for image files."""
        return self.file.sector_size

    def pread(self, length: int, offset: int) -> bytes:
        """Read exactly ``length`` bytes at ``offset`` relative to the start of this range."""
        if length < 0 or offset < 0 or offset + length > self.size:
            raise LvmIOError(
                f"read of {length} bytes at {offset} is outside {self.name} ({self.size} bytes)",
                file=self.path, offset=self.start + max(offset, 0))
        return self.file.pread(length, self.start + offset)

    def close(self) -> None:
        """Close the underlying input (shared with the other sources of the same file)."""
        self.file.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Source({self.name!r}, start={self.start}, size={self.size})"


def _ioctl_uint(fd: int, request: int, nbytes: int) -> int:
    return int.from_bytes(fcntl.ioctl(fd, request, bytes(nbytes)), sys.byteorder)


def _check_type(path: str, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise LvmIOError("cannot open: is a directory", file=path)
    if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
        raise LvmIOError("cannot open: not a regular file or block device", file=path)


def open_input(path: str | os.PathLike[str]) -> InputFile:
    """Open an image file or block device read-only; LvmIOError if that is impossible."""
    path = os.fspath(path)
    try:
        # Look before opening: opening a FIFO would block.
        _check_type(path, os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise LvmIOError(f"cannot open: {e.strerror}", file=path) from None
    try:
        st = os.fstat(fd)
        _check_type(path, st.st_mode)
        if stat.S_ISBLK(st.st_mode):
            try:
                size = _ioctl_uint(fd, BLKGETSIZE64, 8)
                sector_size: int | None = _ioctl_uint(fd, BLKSSZGET, 4)
            except OSError:
                size, sector_size = os.lseek(fd, 0, os.SEEK_END), None
        else:
            size, sector_size = st.st_size, None
    except BaseException:
        os.close(fd)
        raise
    return InputFile(path, fd, size, sector_size)
