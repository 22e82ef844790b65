"""The one error model of lvmread.

Every fault found in an input is an :class:`LvmReadError` that carries where it
was found (file, byte offset, or line and column of metadata text) and what
was wrong; ``str(err)`` is the one line the command-line tool prints.
"""

from __future__ import annotations

from typing import Optional


class LvmReadError(Exception):
    """Base of every error lvmread raises about its inputs."""

    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        file: Optional[str] = None,
        offset: Optional[int] = None,
        line: Optional[int] = None,
        column: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.offset = offset
        self.line = line
        self.column = column

    def where(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(str(self.file))
        if self.offset is not None:
            parts.append(f"offset {self.offset}")
        if self.line is not None:
            pos = f"line {self.line}"
            if self.column is not None:
                pos += f":{self.column}"
            parts.append(pos)
        return ": ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message


class LabelError(LvmReadError):
    """No usable LVM label (missing, wrong sector, wrong type)."""

    kind = "label"


class HeaderError(LvmReadError):
    """A binary header (pv_header, extension, mda_header, partition table) is malformed."""

    kind = "header"


class ChecksumError(LvmReadError):
    """A stored checksum does not match the bytes it covers."""

    kind = "checksum"


class MetadataSyntaxError(LvmReadError):
    """Metadata text does not parse."""

    kind = "metadata syntax"


class MetadataError(LvmReadError):
    """Metadata parses but does not make sense (bad references, ranges, sizes)."""

    kind = "metadata"


class MissingPVError(LvmReadError):
    """A physical volume the metadata names is not among the inputs."""

    kind = "missing pv"


class LvmIOError(LvmReadError):
    """Reading an input failed or came up short (truncated image, I/O error)."""

    kind = "i/o"


class UsageError(LvmReadError):
    """The caller asked for something that does not exist (unknown VG/LV, bad option)."""

    kind = "usage"


class AmbiguousNameError(UsageError):
    """A name that several VGs (or LVs of several VGs) carry: give a uuid instead."""


class ActivationError(LvmReadError):
    """An LV cannot be mapped (unsupported segment type, missing PV without --partial)."""

    kind = "activation"


MAX_WARNINGS = 10
"""How many warnings of one kind are listed before the rest are summarised in one line."""


def summarise(lines: list[str], more: str, limit: int = MAX_WARNINGS) -> list[str]:
    """The first ``limit`` of ``lines``, then one line for the rest: ``more`` with ``{n}``
    replaced by how many were left out (``"and {n} more faults"``; no other formatting, so
    names quoted from a disk may hold braces)."""
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], more.replace("{n}", str(len(lines) - limit))]
