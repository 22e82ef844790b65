"""Table text: parsing, formatting, round trips, as dmsetup reads and prints tables."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lvmread.dm import (
    DeviceMapper,
    DMTableError,
    TableEntry,
    format_table,
    join_args,
    parse_table,
    parse_table_line,
    split_args,
)


def test_format_like_dmsetup():
    entries = [
        TableEntry(0, 16384, "linear", ("7:0", "2048")),
        TableEntry(16384, 8192, "striped", ("2", "128", "7:0", "2048", "7:1", "2048")),
        TableEntry(24576, 100, "zero"),
        TableEntry(24676, 100, "error"),
    ]
    assert format_table(entries) == (
        "0 16384 linear 7:0 2048\n"
        "16384 8192 striped 2 128 7:0 2048 7:1 2048\n"
        "24576 100 zero\n"
        "24676 100 error\n"
    )
    assert entries[0].format() == "0 16384 linear 7:0 2048"
    assert str(entries[2]) == "24576 100 zero"


def test_parse_skips_blank_and_comments():
    text = """
# a comment line
   0 100 linear /dev/loop0 0   # trailing comment

100   50\tzero
\t
150 50 error  \n"""
    entries = parse_table(text)
    assert entries == [
        TableEntry(0, 100, "linear", ("/dev/loop0", "0")),
        TableEntry(100, 50, "zero"),
        TableEntry(150, 50, "error"),
    ]
    assert [e.line for e in entries] == [3, 5, 7]
    assert entries[0].end == 100


def test_parse_accepts_dmsetup_trailing_space():
    # dmsetup table prints "%llu %llu %s %s", leaving a space after argument-less targets
    assert parse_table("0 100 zero \n") == [TableEntry(0, 100, "zero")]


def test_round_trip():
    text = (
        "0 16384 linear 7:0 2048\n"
        "16384 8192 striped 2 128 7:0 2048 7:1 2048\n"
        "24576 100 zero\n"
        "24676 100 error\n"
    )
    assert format_table(parse_table(text)) == text


def test_split_args_like_kernel():
    assert split_args("  a  b\tc\n") == ["a", "b", "c"]
    assert split_args(r"a\ b c\\d e\f") == ["a b", "c\\d", "ef"]
    assert split_args("a\\") == ["a\\"]  # a lone trailing backslash stays
    assert split_args("") == []


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="#\x00"), min_size=1)))
def test_join_split_round_trip(args):
    assert split_args(join_args(args)) == args


def test_quote_refuses_hash_and_empty():
    with pytest.raises(ValueError):
        join_args(["a#b"])
    with pytest.raises(ValueError):
        join_args([""])


@pytest.mark.parametrize(
    "line,fragment",
    [
        ("0 100", "expected <start> <length> <target type>"),
        ("x 100 zero", 'start sector "x"'),
        ("0 -5 zero", 'length "-5"'),
        ("0 1e3 zero", 'length "1e3"'),
        ("0 100 a/b", "not a valid target type name"),
        ("0 100 averyveryverylongname", "not a valid target type name"),
        ("0 18446744073709551616 zero", "length"),
    ],
)
def test_parse_errors(line, fragment):
    with pytest.raises(DMTableError) as ei:
        parse_table("0 1 zero\n" + line)
    assert ei.value.line == 2
    assert fragment in str(ei.value)
    assert str(ei.value).startswith("table line 2: ")


def test_parse_table_line_none_for_comment():
    assert parse_table_line("   # nothing") is None
    assert parse_table_line("") is None


def test_table_text_prints_tokens_as_given(tmp_path):
    img = tmp_path / "a.img"
    img.write_bytes(bytes(1 << 16))
    with DeviceMapper(host_devices=True) as dm:
        dm.add_device("pv0", str(img))
        text = (
            "0 16 linear pv0 00000016\n"  # numbers are normalised, tokens kept
            "16 32 striped 2 8 pv0 0 pv0 64\n"
            "48 8 zero\n"
            "56 8 error\n"
            f"64 8 linear {img} 0\n"
        )
        md = dm.create("lv", text)
        assert md.table_text() == (
            "0 16 linear pv0 16\n"
            "16 32 striped 2 8 pv0 0 pv0 64\n"
            "48 8 zero\n"
            "56 8 error\n"
            f"64 8 linear {img} 0\n"
        )
        # and it loads again, giving the same table
        again = dm.create("lv2", md.table_text())
        assert again.table_text() == md.table_text()
        assert format_table(md.entries()) == md.table_text()
        assert md.entries()[1] == TableEntry(16, 32, "striped", ("2", "8", "pv0", "0", "pv0", "64"))


def test_table_text_quotes_spaces(tmp_path):
    img = tmp_path / "with space.img"
    img.write_bytes(bytes(1 << 16))
    with DeviceMapper() as dm:
        md = dm.create("lv", f"0 8 linear {str(img).replace(' ', chr(92) + ' ')} 0")
        assert md.table_text() == "0 8 linear " + str(img).replace(" ", "\\ ") + " 0\n"
        assert md.read(10) == bytes(10)


def test_error_target_prints_without_args(tmp_path):
    img = tmp_path / "a.img"
    img.write_bytes(bytes(1 << 16))
    with DeviceMapper() as dm:
        dm.add_device("pv0", str(img))
        md = dm.create("e", "0 8 error pv0 0\n8 8 error whatever else here")
        assert md.table_text() == "0 8 error\n8 8 error\n"
        assert [r.token for r in md.devices()] == ["pv0"]
