"""Targets say where a range goes (``map``); the core derives reads, fast paths and ranges."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lvmread.dm import DeviceMapper, DMIOError
from lvmread.dm.targets.base import ERROR, READ, ZERO, Run

S = 512  # sector


@pytest.fixture
def dm():
    with DeviceMapper(host_devices=False) as mapper:
        yield mapper


@pytest.fixture
def images(tmp_path):
    """Two 1 MiB images with distinct random contents."""
    paths, datas = [], []
    for i in range(2):
        data = random.Random(40 + i).randbytes(1 << 20)
        p = tmp_path / f"d{i}.img"
        p.write_bytes(data)
        paths.append(str(p))
        datas.append(data)
    return paths, datas


def runs(target, offset, length):
    """The runs of ``map`` as (device token or None, device offset, length, kind)."""
    return [
        (r.ref.token if r.ref else None, r.offset, r.length, r.kind)
        for r in target.map(offset, length)
    ]


def test_linear_map_is_one_run_shifted(dm, images):
    dm.add_device("a", images[0][0])
    t = dm.create("l", "0 100 linear a 10").targets[0]
    assert runs(t, 0, 100 * S) == [("a", 10 * S, 100 * S, READ)]
    assert runs(t, 3 * S + 7, 1000) == [("a", 13 * S + 7, 1000, READ)]


def test_striped_map_splits_at_chunk_boundaries(dm, images):
    dm.add_device("a", images[0][0])
    dm.add_device("b", images[0][1])
    t = dm.create("s", "0 64 striped 2 4 a 8 b 0").targets[0]
    cs = 4 * S
    # inside one chunk: one run
    assert runs(t, cs + 10, 100) == [("b", 10, 100, READ)]
    # from the middle of chunk 1 to the middle of chunk 4: b, a, b, a
    assert runs(t, cs + 100, 3 * cs) == [
        ("b", 100, cs - 100, READ),
        ("a", 8 * S + cs, cs, READ),
        ("b", cs, cs, READ),
        ("a", 8 * S + 2 * cs, 100, READ),
    ]
    assert sum(r[2] for r in runs(t, 0, t.size)) == t.size
    assert t.periodic == (2 * cs, cs)
    # the device areas come from map: one stripe's width on each device, in argument order
    assert [(a.ref.token, a.start, a.length) for a in t.device_areas()] == [
        ("a", 8, 32),
        ("b", 0, 32),
    ]


def test_zero_and_error_map_to_no_device(dm, images):
    dm.add_device("a", images[0][0])
    md = dm.create("ze", "0 8 zero\n8 8 error\n16 8 error a 4")
    z, e, ea = md.targets
    assert runs(z, 100, 1000) == [(None, 0, 1000, ZERO)]
    assert runs(e, 100, 1000) == [(None, 100, 1000, ERROR)]
    # an error target with a device names its area (checked, never read)
    assert runs(ea, S, S) == [("a", 5 * S, S, ERROR)]
    assert [(a.ref.token, a.start, a.length) for a in ea.device_areas()] == [("a", 4, 8)]
    assert md.zero_ranges() == [(0, 8 * S)]
    assert md.error_ranges() == [(8 * S, 16 * S)]
    with pytest.raises(DMIOError, match="sector 9"):
        md.pread(10, 9 * S)


def naive_read(md, offset: int, length: int) -> bytes:
    """The bytes of ``md`` read a sector at a time through each target's ``map`` alone."""
    out = bytearray()
    table = md.table
    for sector in range(offset // S, -(-(offset + length) // S)):
        t = table.target_at(sector)
        (run,) = t.map((sector - t.begin) * S, S)
        if run.kind == ZERO:
            out += bytes(S)
        else:
            assert run.kind == READ
            out += run.ref.device.pread(S, run.offset)
    skip = offset % S
    return bytes(out[skip : skip + length])


class Mem:
    """A device object that is not a file (no fast path)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def pread(self, length: int, offset: int) -> bytes:
        return self.data[offset : offset + length]


@settings(max_examples=60, deadline=None)
@given(
    stripes=st.integers(1, 4),
    chunk=st.integers(1, 9),
    rows=st.integers(1, 6),
    files=st.booleans(),
    reads=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(1, 40000)), max_size=6),
)
def test_core_read_over_map_equals_naive_per_sector_read(
    tmp_path_factory, stripes, chunk, rows, files, reads
):
    """Random tables of linear, striped and zero targets (stacked too), over files (the fast
    paths) or objects (the general path): every read equals one built sector by sector."""
    rng = random.Random(stripes * 1000 + chunk * 10 + rows)
    data = [rng.randbytes(64 << 10) for _ in range(stripes)]
    with DeviceMapper(host_devices=False) as dm:
        for i, d in enumerate(data):
            if files:
                p = tmp_path_factory.mktemp("m") / f"{i}.img"
                p.write_bytes(d)
                dm.add_device(f"d{i}", str(p))
            else:
                dm.add_device(f"d{i}", Mem(d))
        length = stripes * chunk * rows
        pairs = " ".join(f"d{i} {rng.randrange(0, 64)}" for i in range(stripes))
        table = f"0 {length} striped {stripes} {chunk} {pairs}\n"
        table += f"{length} 16 zero\n{length + 16} 20 linear d0 {rng.randrange(0, 100)}"
        low = dm.create("low", table)
        top = dm.create("top", f"0 {low.sectors - 3} linear low 3")
        for md in (low, top):
            for off, n in reads + [(0, md.size)]:
                off %= md.size
                n = min(n, md.size - off)
                want = naive_read(md, off, n)
                assert md.pread(n, off) == want
                buf = bytearray(n)
                assert md.preadinto(buf, off) == n and buf == want
                md.seek(off)
                assert md.read(n) == want


def test_striped_plans_give_way_past_iov_max(dm, images):
    """A read needing more pieces of one stripe than one preadv takes has no plan: the fast
    reader says so and the core's read over the runs gives the bytes."""
    from lvmread.dm.devices import IOV_MAX

    dm.add_device("a", images[0][0])
    dm.add_device("b", images[0][1])
    sectors = 2 * (IOV_MAX + 8)
    md = dm.create("s", f"0 {sectors} striped 2 1 a 0 b 0")
    fast = md.table.fast_readers[0]
    buf = bytearray(md.size)
    assert fast(buf, 0, md.size) is False
    assert md.pread(md.size, 0) == naive_read(md, 0, md.size)


def test_run_defaults_to_a_read():
    assert Run(None, 5, 6) == (None, 5, 6, READ)
