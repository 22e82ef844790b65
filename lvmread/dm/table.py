r"""Table text in the ``dmsetup table`` syntax.

One line per target::

    <start> <length> <target type> <arguments...>

with ``start`` and ``length`` in 512-byte sectors.  On input, blank lines are
skipped and ``#`` starts a comment that runs to the end of the line (as
``dmsetup create`` reads a table file).  Arguments are split as the kernel's
``dm_split_args()`` splits them: on whitespace, with a backslash quoting the next
character; and, since a table line cannot carry a newline, other control
characters or ``#``, ``\xHH`` (two hex digits) in a line stands for the byte
``HH`` of the argument (its UTF-8, or the raw byte of a non-UTF-8 path, as
:func:`os.fsencode` gives it).  :func:`escape_arg` writes any argument so, and
only where needed: ``/a b#c`` is written ``/a\ b\x23c``.

This module only deals with text; building targets from entries and validating
them against devices is :mod:`lvmread.dm.mapping`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, List, Tuple

from lvmread.dm.errors import DMTableError

#: bytes in a device-mapper sector
SECTOR_SIZE = 512
SECTOR_SHIFT = 9

#: the kernel refuses tables whose end is past LLONG_MAX >> SECTOR_SHIFT (dm_table_add_target)
MAX_SECTORS = ((1 << 63) - 1) >> SECTOR_SHIFT

#: longest target type name the kernel takes (DM_MAX_TYPE_NAME, including the NUL)
MAX_TYPE_NAME = 16

_UINT = re.compile(r"[0-9]+\Z")
_TYPE_NAME = re.compile(r"[A-Za-z0-9_.-]+\Z")
_WS = " \t\n\v\f\r"
_WS_RUN = re.compile("[ \t\n\v\f\r]+")
_HEX = frozenset("0123456789abcdefABCDEF")
#: an argument written as it is in a table line (printable ASCII but space, ``#``, ``\``)
_PLAIN = re.compile(r"[\x21\x22\x24-\x5b\x5d-\x7e]+\Z")


def parse_uint(text: str, bits: int = 64) -> int | None:
    """``text`` as an unsigned decimal integer below ``2**bits``, or None.

    Only ASCII digits are taken: no sign, no spaces, no underscores, no other
    base, like the kernel's ``sscanf("%llu%c")`` / ``kstrtouint(.., 10, ..)``
    checks in the targets' constructors.
    """
    if not _UINT.match(text):
        return None
    value = int(text)
    if value >> bits:
        return None
    return value


def split_args(params: str) -> List[str]:
    """Split a target's parameter string as the kernel's ``dm_split_args()`` does.

    Whitespace separates arguments; a backslash makes the next character part
    of the argument whatever it is (a trailing lone backslash is kept).
    """
    return _split(params, False)


def split_table_args(params: str) -> List[str]:
    """Split the arguments of a table line: as :func:`split_args`, and ``\\xHH`` is
    the byte ``HH`` (what :func:`escape_arg` writes for what a line cannot carry)."""
    return _split(params, True)


def _split(params: str, hex_escapes: bool) -> List[str]:
    if "\\" not in params:
        return [a for a in _WS_RUN.split(params) if a]
    args: List[str] = []
    i, n = 0, len(params)
    while True:
        while i < n and params[i] in _WS:
            i += 1
        if i >= n:
            return args
        out = []
        raw = False  # a \xHH of a byte past ASCII: the argument is bytes to decode
        while i < n:
            c = params[i]
            if c == "\\" and i + 1 < n:
                if (
                    hex_escapes
                    and params[i + 1] == "x"
                    and i + 3 < n
                    and params[i + 2] in _HEX
                    and params[i + 3] in _HEX
                ):
                    byte = int(params[i + 2 : i + 4], 16)
                    out.append(chr(byte) if byte < 0x80 else chr(0xDC00 + byte))
                    raw = raw or byte >= 0x80
                    i += 4
                    continue
                out.append(params[i + 1])
                i += 2
                continue
            if c in _WS:
                break
            out.append(c)
            i += 1
        arg = "".join(out)
        if raw:  # bytes given one by one join into the characters they encode
            try:
                arg = arg.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")
            except UnicodeEncodeError:  # a lone surrogate in the text itself: left as it is
                pass
        args.append(arg)


def quote_arg(arg: str) -> str:
    """Quote one argument so that :func:`split_args` gives it back unchanged."""
    if not arg:
        raise ValueError("an empty argument cannot be written in a table")
    if "#" in arg:
        # dmsetup cuts a table line at the first '#', quoted or not
        raise ValueError(f"argument {arg!r} contains '#', which a table line cannot carry")
    if not any(c in _WS or c == "\\" for c in arg):
        return arg
    return "".join("\\" + c if (c in _WS or c == "\\") else c for c in arg)


def join_args(args: Iterable[str]) -> str:
    """The parameter string for ``args`` (quoted where needed), space separated: the
    kernel's form (a ``DM_TABLE_LOAD``); a table line is :func:`escape_args`'."""
    return " ".join(quote_arg(a) for a in args)


def escape_arg(arg: str) -> str:
    """``arg`` as a table line writes it, so that :func:`split_table_args` gives it back.

    As the kernel reads it, a backslash goes before a space, a tab and a backslash; what
    a line cannot carry (``#``, newlines and other unprintable characters, the raw bytes
    of a non-UTF-8 path) is written ``\\xHH`` per byte.  Other arguments are unchanged.
    """
    if _PLAIN.match(arg):
        return arg
    if not arg:
        raise ValueError("an empty argument cannot be written in a table")
    out = []
    for c in arg:
        if c in " \t\\":
            out.append("\\" + c)
        elif c == "#" or not c.isprintable():
            try:
                data = c.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                raise ValueError(f"argument {arg!r} is not text a path can hold") from None
            out.append("".join(f"\\x{b:02x}" for b in data))
        else:
            out.append(c)
    return "".join(out)


def escape_args(args: Iterable[str]) -> str:
    """The arguments of a table line (each :func:`escape_arg`'d), space separated."""
    return " ".join(escape_arg(a) for a in args)


@dataclass(frozen=True)
class TableEntry:
    """One line of a table: a target type mapped over a range of sectors."""

    start: int
    """first sector of the mapped device this target covers"""
    length: int
    """number of 512-byte sectors this target covers"""
    target: str
    """target type name, e.g. ``"linear"``"""
    args: Tuple[str, ...] = ()
    """the target's arguments, split and unquoted"""
    line: int | None = field(default=None, compare=False)
    """1-based line number in the text it was parsed from (not compared)"""

    @property
    def end(self) -> int:
        """First sector after this target."""
        return self.start + self.length

    @property
    def params(self) -> str:
        """The argument string as it appears in the table."""
        return escape_args(self.args)

    def format(self) -> str:
        """This entry as one ``dmsetup table`` line (no newline)."""
        head = f"{self.start} {self.length} {self.target}"
        params = self.params
        return f"{head} {params}" if params else head

    def __str__(self) -> str:
        return self.format()


def parse_table_line(text: str, line: int | None = None) -> TableEntry | None:
    """Parse one table line; None for a blank or comment line.

    Raises :class:`DMTableError` naming ``line`` when the line does not have
    the ``<start> <length> <target> [args...]`` form.
    """
    comment = text.find("#")
    if comment >= 0:
        text = text[:comment]
    head = text.split(None, 3)
    if not head:
        return None
    if len(head) < 3:
        raise DMTableError("expected <start> <length> <target type> [<arguments>...]", line=line)
    start = parse_uint(head[0])
    if start is None:
        raise DMTableError(f'start sector "{head[0]}" is not an unsigned integer', line=line)
    length = parse_uint(head[1])
    if length is None:
        raise DMTableError(f'length "{head[1]}" is not an unsigned integer', line=line)
    target = head[2]
    if len(target) >= MAX_TYPE_NAME or not _TYPE_NAME.match(target):
        raise DMTableError(f'"{target}" is not a valid target type name', line=line)
    args = tuple(split_table_args(head[3])) if len(head) > 3 else ()
    if any("\0" in a for a in args):
        raise DMTableError("an argument holds a NUL byte", line=line)
    return TableEntry(start, length, target, args, line)


def parse_table(text: str) -> List[TableEntry]:
    """Parse a whole table text into entries (blank and ``#`` comment lines skipped).

    Only the syntax is checked here; ranges, target arguments and devices are
    checked when a mapped device is created from the entries.
    """
    entries = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        entry = parse_table_line(raw, lineno)
        if entry is not None:
            entries.append(entry)
    return entries


def format_table(entries: Iterable[TableEntry]) -> str:
    """Format entries as ``dmsetup table`` prints them, one line each, newline-terminated.

    A target without arguments prints as ``0 100 zero`` (``dmsetup`` itself
    leaves a trailing space after the target type there; parsing accepts both).
    """
    return "".join(e.format() + "\n" for e in entries)
