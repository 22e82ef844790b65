"""Every table validation error, as the kernel's table load would refuse the table."""

from __future__ import annotations

import pytest

from lvmread.dm import (
    DeviceMapper,
    DMError,
    DMTableError,
    TableEntry,
    Target,
    build_table,
    lookup_target,
    register_target,
    target_types,
)
from lvmread.dm.targets import unregister_target

S = 512


@pytest.fixture
def dm(tmp_path):
    """Two registered 256-sector devices, "a" and "b"; host lookups allowed."""
    with DeviceMapper() as mapper:
        for name in ("a", "b"):
            p = tmp_path / f"{name}.img"
            p.write_bytes(bytes(256 * S))
            mapper.add_device(name, str(p))
        yield mapper


def fails(dm, table, *, line=None, target=None, arg_index=None, argument=None, match=None):
    with pytest.raises(DMTableError) as ei:
        dm.create("t", table)
    err = ei.value
    if line is not None:
        assert err.line == line, str(err)
    if target is not None:
        assert err.target == target, str(err)
    assert err.arg_index == arg_index, str(err)
    if argument is not None:
        assert err.argument == argument, str(err)
    if match is not None:
        assert match in str(err), str(err)
    assert err.device == "t"
    assert "t" not in dm  # nothing left behind
    return err


def test_error_message_shape(dm):
    err = fails(
        dm,
        "0 8 zero\n8 16 striped 2 8 a 0 b 0x",
        line=2,
        target="striped",
        arg_index=6,
        argument="0x",
        match="not a device offset",
    )
    assert str(err).startswith('t: table line 2: striped: argument 6 ("0x"): not a device offset')
    assert isinstance(err, DMError)


# -- table-level rules (dm-table.c) -------------------------------------------


def test_empty_table(dm):
    fails(dm, "# nothing here\n\n", match="no targets in table")


def test_zero_length(dm):
    fails(dm, "0 0 zero", line=1, target="zero", match="zero-length target")


def test_first_target_not_at_zero(dm):
    fails(dm, "8 8 zero", line=1, match="gap in table: first target starts at sector 8")


def test_gap(dm):
    fails(dm, "0 8 zero\n9 8 zero", line=2, match="gap in table")


def test_overlap(dm):
    fails(dm, "0 8 zero\n4 8 zero", line=2, match="overlaps")


def test_too_large(dm):
    fails(dm, f"0 {1 << 60} zero", line=1, match="too large device")


def test_unknown_target(dm):
    fails(dm, "0 8 zero\n8 8 no-such-target", line=2, target="no-such-target", match="unknown")


def test_line_numbers_count_comments_and_blanks(dm):
    fails(dm, "# c\n0 8 zero\n\n8 8 linear a\n", line=4, target="linear")


# -- linear (dm-linear.c) -----------------------------------------------------


@pytest.mark.parametrize("args", ["a", "a 0 1", ""])
def test_linear_argument_count(dm, args):
    fails(dm, f"0 8 linear {args}", target="linear", match="invalid argument count")


@pytest.mark.parametrize("offset", ["-1", "0x10", "1.0", "+1", "1_0", "18446744073709551616", "٣"])
def test_linear_bad_offset(dm, offset):
    fails(dm, f"0 8 linear a {offset}", arg_index=2, argument=offset, match="not a device offset")


def test_linear_unknown_device(dm):
    fails(
        dm,
        "0 8 linear /no/such/thing 0",
        arg_index=1,
        argument="/no/such/thing",
        match="device lookup failed",
    )


def test_linear_device_too_small(dm):
    dm.create("ok", "0 256 linear a 0")  # exactly the whole device is fine
    fails(dm, "0 8 linear a 250", arg_index=1, argument="a", match="too small for target")
    fails(dm, "0 8 linear a 256", arg_index=1, match="start=256, len=8, dev_size=256")
    fails(dm, "0 257 linear a 0", arg_index=1, match="too small")


# -- striped (dm-stripe.c) ----------------------------------------------------


def test_striped_not_enough_args(dm):
    fails(dm, "0 16 striped 2", target="striped", match="not enough arguments")


@pytest.mark.parametrize("count", ["0", "x", "-2", "4294967296"])
def test_striped_bad_stripe_count(dm, count):
    fails(dm, f"0 16 striped {count} 8 a 0 b 0", arg_index=1, argument=count, match="stripe count")


@pytest.mark.parametrize("chunk", ["0", "y", "4294967296"])
def test_striped_bad_chunk(dm, chunk):
    fails(dm, f"0 16 striped 2 {chunk} a 0 b 0", arg_index=2, argument=chunk, match="chunk size")


def test_striped_length_not_divisible_by_stripes(dm):
    fails(dm, "0 15 striped 2 1 a 0 b 0", match="not divisible by number of stripes")


def test_striped_width_not_divisible_by_chunk(dm):
    # 48 / 2 = 24 per stripe, not a multiple of 16
    fails(dm, "0 48 striped 2 16 a 0 b 0", match="not divisible by chunk size")


def test_striped_non_power_of_two_chunk_is_allowed(dm):
    # the current kernel takes any non-zero chunk size (since Linux 3.6)
    md = dm.create("ok", "0 48 striped 2 3 a 0 b 0")
    assert md.size == 48 * S


@pytest.mark.parametrize("pairs", ["a 0", "a 0 b", "a 0 b 0 c 0"])
def test_striped_wrong_destination_count(dm, pairs):
    fails(dm, f"0 16 striped 2 8 {pairs}", match="2 stripes need 6 arguments")


def test_striped_bad_offset_and_device(dm):
    fails(dm, "0 16 striped 2 8 a 0 b 1x", arg_index=6, argument="1x", match="device offset")
    fails(dm, "0 16 striped 2 8 a 0 nosuch 0", arg_index=5, argument="nosuch", match="lookup")


def test_striped_device_too_small(dm):
    dm.create("ok", "0 512 striped 2 8 a 0 b 0")
    # each stripe maps len/stripes = 256 sectors; b from 8 on is too short
    fails(dm, "0 512 striped 2 8 a 0 b 8", arg_index=5, argument="b", match="too small")


# -- zero and error -------------------------------------------------------------


def test_zero_takes_no_arguments(dm):
    fails(dm, "0 8 zero 1", target="zero", arg_index=1, argument="1", match="no arguments")


def test_error_with_device_is_checked(dm):
    fails(dm, "0 8 error nosuch 0", target="error", arg_index=1, match="lookup")
    fails(dm, "0 8 error a x", target="error", arg_index=2, match="device offset")
    fails(dm, "0 8 error a 252", target="error", arg_index=1, match="too small")
    dm.create("ok1", "0 8 error")
    dm.create("ok2", "0 8 error 1 2 3")  # other argument counts are ignored


# -- device mapper rules ----------------------------------------------------------


def test_stacking_depth_bounded(tmp_path):
    p = tmp_path / "a.img"
    p.write_bytes(bytes(8 * S))
    with DeviceMapper(max_depth=3) as dm:
        dm.add_device("a", str(p))
        dm.create("l1", "0 8 linear a 0")
        dm.create("l2", "0 8 linear l1 0")
        dm.create("l3", "0 8 linear l2 0")
        with pytest.raises(DMTableError, match="stacking too deep"):
            dm.create("l4", "0 8 linear l3 0")


def test_no_self_reference_or_cycle(dm):
    # a table can only name devices that exist already, so it cannot name itself
    fails(dm, "0 8 linear t 0", arg_index=1, argument="t", match="lookup")
    fails(dm, "0 8 linear 253:0 0", arg_index=1, match="lookup")


@pytest.mark.parametrize("name", ["", "a/b", ".", "..", "x" * 128, "7:0", "a\0b"])
def test_bad_names(dm, name):
    with pytest.raises(DMError):
        dm.create(name, "0 8 zero")


def test_names_with_spaces_are_quoted(dm):
    dm.create("has space", "0 8 zero")
    top = dm.create("top", "0 8 linear has\\ space 0")
    assert top.table_text() == "0 8 linear has\\ space 0\n"
    assert top.read(8) == bytes(8)


def test_duplicate_names(dm):
    dm.create("x", "0 8 zero")
    with pytest.raises(DMError, match="already exists"):
        dm.create("x", "0 8 zero")
    with pytest.raises(DMError, match="registered device"):
        dm.create("a", "0 8 zero")
    with pytest.raises(DMError, match="already in use"):
        dm.add_device("x", object())


def test_host_devices_can_be_disabled(tmp_path):
    p = tmp_path / "a.img"
    p.write_bytes(bytes(8 * S))
    with DeviceMapper(host_devices=False) as dm:
        with pytest.raises(DMTableError, match="lookup failed"):
            dm.create("x", f"0 8 linear {p} 0")
        with pytest.raises(DMTableError, match="lookup failed"):
            dm.create("x", "0 8 linear 7:0 0")


def test_entries_without_line_numbers_are_numbered_by_position(dm):
    entries = [TableEntry(0, 8, "zero"), TableEntry(8, 8, "linear", ("a",))]
    with pytest.raises(DMTableError) as ei:
        dm.create("t", entries)
    assert ei.value.line == 2


def test_build_table_without_mapper():
    t = build_table([TableEntry(0, 8, "zero")], None, name="z")
    assert t.size == 8 * S and t.pread(4, 0) == bytes(4)
    with pytest.raises(DMTableError, match="no device lookup"):
        build_table([TableEntry(0, 8, "linear", ("a", "0"))], None)


# -- registry ------------------------------------------------------------------


def test_registry_has_builtins():
    types = target_types()
    for name in ("linear", "striped", "zero", "error"):
        assert name in types and types[name].name == name
    assert lookup_target("no-such-target") is None


def test_new_target_joins_without_core_changes(dm):
    @register_target
    class Ones(Target):
        name = "test-ones"

        def __init__(self, ctx):
            super().__init__(ctx)
            self.value = ctx.uint_arg(0, "a byte value", 8) if ctx.args else 0xFF

        def preadinto(self, buf, offset):
            buf[:] = bytes([self.value]) * len(buf)

        def args(self):
            return [str(self.value)]

    try:
        md = dm.create("o", "0 8 test-ones 7\n8 8 zero")
        assert md.read(S + 2) == b"\x07" * S + b"\x07\x07"
        assert md.table_text() == "0 8 test-ones 7\n8 8 zero\n"
        fails(dm, "0 8 test-ones 256", arg_index=1, argument="256", match="not a byte value")
        with pytest.raises(ValueError):
            register_target(type("Other", (Ones,), {"name": "test-ones"}))
    finally:
        unregister_target("test-ones")
    assert lookup_target("test-ones") is None
