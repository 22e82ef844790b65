"""Metadata backup and archive files as a source of metadata (``--metadata FILE``).

lvm2 keeps a copy of each VG's metadata in ``/etc/lvm/backup/<VG>`` and, before each
change, in ``/etc/lvm/archive/<VG>_<N>-<R>.vg``: the same text as on disk but with the
header keys (description, creation host and time) first, indentation and comments. The
lark grammar reads both forms. With the images, such a file describes a VG whose
on-disk metadata is gone: its PVs are found on the images by their uuids.
"""

from __future__ import annotations

import os
import stat
from typing import Optional

from ..errors import LvmIOError, LvmReadError, MetadataError, UsageError
from ..limits import MAX_METADATA_TEXT
from ..ondisk.crc import lvm_crc
from ..text.metadata import over_limit
from .copies import FileText, Version, header_fields

__all__ = ["MAX_FILE", "FileText", "read_metadata_file", "read_metadata_files"]

MAX_FILE = MAX_METADATA_TEXT
"""Refuse metadata files larger than this: the same bound as for a copy on disk."""


def _regular(path: str, mode: int, size: int) -> None:
    """Refuse what is not a regular file (a FIFO would block, /dev/zero never end) and a
    file over the metadata text limit, before reading any of it."""
    if stat.S_ISDIR(mode):
        raise LvmIOError("cannot read metadata file: is a directory", file=path)
    if not stat.S_ISREG(mode):
        raise LvmIOError("cannot read metadata file: not a regular file", file=path)
    too_big = over_limit(size)
    if too_big is not None:
        raise MetadataError(f"metadata file is too large: {too_big}", file=path)


def _read_regular(path: str) -> bytes:
    """The bytes of a regular file of at most MAX_FILE bytes; LvmIOError or MetadataError
    (one line) for anything else."""
    try:
        st = os.stat(path)  # look before opening: opening a FIFO would block
        _regular(path, st.st_mode, st.st_size)
        # O_NONBLOCK: should it become a FIFO in between, opening it does not wait
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise LvmIOError(f"cannot read metadata file: {exc.strerror}", file=path) from None
    try:
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            _regular(path, st.st_mode, st.st_size)
            data = f.read(MAX_FILE + 1)
    except OSError as exc:
        raise LvmIOError(f"cannot read metadata file: {exc.strerror}", file=path) from None
    _regular(path, stat.S_IFREG, len(data))  # it grew while being read
    return data


def read_metadata_file(path: str) -> Version:
    """Read and parse one backup/archive file (or a bare metadata text) as a version."""
    from ..text.metadata import parse_metadata

    data = _read_regular(path)
    text = data.split(b"\0", 1)[0].decode("utf-8", "replace")
    tree = parse_metadata(text, source=path)
    sections = [(k, s) for k, s in tree.items() if isinstance(s, dict)]
    if len(sections) != 1:
        raise MetadataError(
            f"expected one volume group section, found {len(sections)}", file=path
        )
    name, sec = sections[0]
    seqno = sec.get("seqno")
    if not isinstance(seqno, int):
        raise MetadataError(f"volume group {name} has no integer seqno", file=path)
    hf = header_fields(data)
    v = Version(
        vg_name=name,
        vg_uuid=str(sec.get("id", "")),
        seqno=seqno,
        data=data,
        checksum=lvm_crc(data),
        source=path,
        length=len(data),
        ended=True,
        parses=True,
        kind="file",
        tree=tree,
        description=tree.get("description") if isinstance(tree.get("description"), str)
        else hf["description"],
        creation_host=tree.get("creation_host")
        if isinstance(tree.get("creation_host"), str) else hf["creation_host"],
        creation_time=tree.get("creation_time")
        if isinstance(tree.get("creation_time"), int) else hf["creation_time"],
    )
    if tree.get("contents") != "Text Format Volume Group":
        v.problems.append("no 'contents = \"Text Format Volume Group\"' line")
    return v


MAX_SKIP_WARNINGS = 3
"""Files of a folder skipped with a warning each; past this, one line counts the rest."""


def read_metadata_files(
    paths: list[str], warnings: Optional[list[str]] = None
) -> list[Version]:
    """Every file named, parsed (a file that is not metadata is an error). A folder gives
    every file in it that holds metadata: the others are skipped, each with a line in
    ``warnings`` (a few, then a count), and a folder with none is an error."""
    out: list[Version] = []
    for p in paths:
        p = os.fspath(p)
        if not os.path.isdir(p):
            out.append(read_metadata_file(p))
            continue
        # every entry but folders: a FIFO or a device in the folder is skipped with a
        # warning too (read_metadata_file refuses it without opening it)
        names = sorted(n for n in os.listdir(p) if not os.path.isdir(os.path.join(p, n)))
        found: list[Version] = []
        skipped: list[LvmReadError] = []
        for n in names:
            try:
                found.append(read_metadata_file(os.path.join(p, n)))
            except LvmReadError as exc:
                skipped.append(exc)
        if not found:
            why = f" ({skipped[0]}{', ...' if len(skipped) > 1 else ''})" if skipped else ""
            raise UsageError(f"{p}: no metadata files in this folder{why}")
        if warnings is not None:
            warnings.extend(f"{exc} (not metadata; skipped)"
                            for exc in skipped[:MAX_SKIP_WARNINGS])
            if len(skipped) > MAX_SKIP_WARNINGS:
                more = len(skipped) - MAX_SKIP_WARNINGS
                warnings.append(f"{p}: {more} more files skipped (not metadata)")
        out.extend(found)
    return out
