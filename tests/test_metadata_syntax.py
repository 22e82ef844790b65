"""The metadata syntax is stated once, in grammar/lvm_metadata.lark (issue 10, item 4).

lvmread's own regexes (an ASSIGNMENTS token cut into its assignments, the header lines a
history listing shows) are made of the grammar's pieces as lark compiles them, so they
cannot drift from what the parser accepts; and a copy with a 4 MiB description in its
header lines is read by ``ls`` and ``history`` in bounded memory.
"""

from __future__ import annotations

import itertools
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import test_hostile
from conftest import ORACLE

from lvmread.ondisk import layout
from lvmread.ondisk.crc import lvm_crc
from lvmread.text import _metadata_parser as generated
from lvmread.text import metadata
from lvmread.vgread.copies import header_fields

MDA = 4096  # the bigmda fixture's metadata area: its offset in the image
MEMORY = 384 << 20
"""Address space for the 4 MiB description: the old per-character group took ~545 MB."""


def test_generated_parser_carries_the_grammars_pieces():
    assert generated.TERMINALS == metadata.grammar_patterns(metadata.grammar_text())
    assert set(generated.TERMINALS) == set(metadata.PIECES)
    # the coarse token is the grammar's ASSIGNMENT repeated, as the grammar composes it
    lexer = {t.name: t.pattern.value for t in generated.Lark_StandAlone().terminals}
    assert lexer["ASSIGNMENTS"] == f"(?:{generated.TERMINALS['ASSIGNMENT']}){{1,256}}"


def test_assignments_tile_every_token_of_real_metadata():
    """Every ASSIGNMENTS token the lexer makes of real lvm2 texts is cut, without a gap,
    into matches of the grammar's ASSIGNMENT, each with its key and exactly one value."""
    one = re.compile(metadata.syntax().patterns["ASSIGNMENT"])
    split = metadata.syntax().assignment
    tokens = 0
    for path in sorted(ORACLE.glob("*/guest/vgcfgbackup.txt")):
        for tok in generated.Lark_StandAlone().lex(path.read_text()):
            if tok.type != "ASSIGNMENTS":
                continue
            tokens += 1
            pos = 0
            for m in split.finditer(tok):
                assert m.start() == pos and one.fullmatch(m.group())
                assert m.group(1) and sum(g is not None for g in m.groups()[1:]) == 1
                pos = m.end()
            assert pos == len(tok)
    assert tokens > 10


def test_header_fields_read_strings_as_the_parser_does():
    text = (b'vg {\nid = "x"\nseqno = 3\n}\n'
            b'contents = "Text Format Volume Group"\nversion = 1\n'
            b'description = "a \\"b\\" c\\\\ d\\n e\nf"\n'
            b'creation_host = "h"\ncreation_time = 7\n')
    tree = metadata.parse_metadata(text.decode())
    assert tree["description"] == 'a "b" c\\ d\\n e\nf'
    assert header_fields(text) == {k: tree[k] for k in
                                   ("description", "creation_host", "creation_time")}


def _lvm2_unescape(s: str) -> str:
    """lvm2's dm_unescape_double_quotes (libdm-string.c), as its loop runs: left to right,
    a backslash before a quote or a backslash is dropped, any other stays."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in '"\\':
            out.append(s[i + 1])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def test_unquote_is_lvm2s_unescape():
    for n in range(1, 9):
        for chars in itertools.product('\\"a', repeat=n):
            body = "".join(chars)
            assert metadata.unquote(f'"{body}"') == _lvm2_unescape(body), body


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lvmread.cli", *argv], capture_output=True,
                          text=True, errors="replace", cwd=cwd, timeout=test_hostile.TIMEOUT,
                          preexec_fn=_limits, check=False)


def _write_current(img: Path, text: bytes) -> None:
    """Write ``text`` + NUL at the start of the ring as the committed copy, with its
    checksum and the mda_header's as lvm2 writes them."""
    data = text + b"\0"
    with open(img, "r+b") as f:
        f.seek(MDA)
        head = layout.mda_header.parse(f.read(layout.MDA_HEADER_SIZE))
        assert layout.MDA_HEADER_SIZE + len(data) <= head.size
        f.seek(MDA + layout.MDA_HEADER_SIZE)
        f.write(data)
        locn = dict(offset=layout.MDA_HEADER_SIZE, size=len(data), checksum=lvm_crc(data),
                    flags=0)
        zero = dict(offset=0, size=0, checksum=0, flags=0)
        raw = layout.mda_header.build(dict(head, checksum=0, raw_locns=[locn, zero]))
        raw = raw.ljust(layout.MDA_HEADER_SIZE, b"\0")
        crc = lvm_crc(raw[layout.MDA_CRC_START:])
        f.seek(MDA)
        f.write(layout.mda_header.build(dict(head, checksum=crc, raw_locns=[locn, zero])))


def test_four_mib_description_in_bounded_memory(fixture_images, tmp_path):
    img = tmp_path / "disk.img"
    shutil.copyfile(fixture_images.images("bigmda")[0], img)
    with open(img, "rb") as f:
        f.seek(MDA)
        head = layout.mda_header.parse(f.read(layout.MDA_HEADER_SIZE))
        f.seek(MDA + head.raw_locns[0].offset)
        text = f.read(head.raw_locns[0].size).split(b"\0", 1)[0]
    description = 'x\\"y' * (1 << 20)  # 4 MiB, an escape every 4 bytes
    text, n = re.subn(rb'\ndescription = "(?:[^"\\]|\\.)*"\n',
                      b'\ndescription = "' + description.encode() + b'"\n', text)
    assert n == 1
    _write_current(img, text)

    cp = _run(["ls", str(img)], tmp_path)
    assert cp.returncode == 0 and not cp.stderr, cp.stderr[-2000:]
    assert re.search(r"^vgbig\s+lvbig\s", cp.stdout, re.M), cp.stdout
    cp = _run(["history", "--json", str(img)], tmp_path)
    assert cp.returncode == 0, cp.stderr[-2000:]
    assert "Traceback" not in cp.stderr and "MemoryError" not in cp.stderr
    # x\"y unescaped to x"y, which JSON quotes as x\"y again
    assert '"description": "' + 'x\\"y' * (1 << 20) + '"' in cp.stdout
