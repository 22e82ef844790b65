"""Reads through lvmread.dm mapped devices, checked against independently built references."""

from __future__ import annotations

import io
import os
import random
import threading

import pytest

from lvmread.dm import (
    DeviceMapper,
    DMIOError,
    MappedDevice,
)

S = 512  # sector


def make_image(path, nbytes: int, seed: int) -> bytes:
    """Write ``nbytes`` of seeded random data to ``path`` and return them."""
    data = random.Random(seed).randbytes(nbytes)
    with open(path, "wb") as f:
        f.write(data)
    return data


def striped_reference(devs, offsets, chunk: int, length: int) -> bytes:
    """Expected bytes of a striped target, by the kernel's rule.

    Chunk ``c`` of the target is chunk ``c // n`` of stripe ``c % n``.
    """
    n = len(devs)
    out = bytearray()
    for c in range(length // chunk):
        stripe, schunk = c % n, c // n
        start = (offsets[stripe] + schunk * chunk) * S
        out += devs[stripe][start : start + chunk * S]
    assert len(out) == length * S
    return bytes(out)


@pytest.fixture
def images(tmp_path):
    """Three 1 MiB images with distinct random contents."""
    paths, datas = [], []
    for i in range(3):
        p = tmp_path / f"disk{i}.img"
        datas.append(make_image(p, 1 << 20, seed=100 + i))
        paths.append(str(p))
    return paths, datas


@pytest.fixture
def dm():
    with DeviceMapper(host_devices=False) as mapper:
        yield mapper


def check_random_reads(md: MappedDevice, expected: bytes, count: int = 300, seed: int = 7):
    rng = random.Random(seed)
    size = len(expected)
    assert md.size == size
    for _ in range(count):
        off = rng.randrange(0, size + 2000)
        n = rng.choice([1, 7, 511, 512, 513, 4096, 65536, 65537, rng.randrange(0, 300000)])
        want = expected[off : off + n]
        assert md.pread(n, off) == want, (off, n)
        buf = bytearray(n)
        got = md.preadinto(buf, off)
        assert got == len(want)
        assert bytes(buf[:got]) == want
        md.seek(off)
        assert md.read(n) == want
        assert md.tell() == off + len(want)
        md.seek(off)
        buf = bytearray(n)
        assert md.readinto(buf) == len(want)
        assert bytes(buf[: len(want)]) == want
        assert md.tell() == off + len(want)


# -- linear -------------------------------------------------------------------


def test_linear_reads(dm, images):
    paths, datas = images
    dm.add_device("d0", paths[0])
    md = dm.create("lv", "0 1000 linear d0 48\n")
    expected = datas[0][48 * S : (48 + 1000) * S]
    assert md.read(S) == expected[:S]
    check_random_reads(md, expected)


def test_linear_whole_read_and_readall(dm, images):
    paths, datas = images
    dm.add_device("d0", paths[0])
    md = dm.create("lv", "0 2048 linear d0 0")
    assert md.read() == datas[0]
    md.seek(1000)
    assert md.readall() == datas[0][1000:]
    assert md.read() == b""


def test_multiple_entries_cross_boundaries(dm, images):
    paths, datas = images
    for i, p in enumerate(paths):
        dm.add_device(f"d{i}", p)
    table = (
        "0 100 linear d0 10\n"
        "100 64 linear d1 0\n"
        "164 36 zero\n"
        "200 300 linear d2 1000\n"
        "500 128 striped 2 16 d0 500 d1 700\n"
    )
    md = dm.create("mix", table)
    expected = (
        datas[0][10 * S : 110 * S]
        + datas[1][0 : 64 * S]
        + bytes(36 * S)
        + datas[2][1000 * S : 1300 * S]
        + striped_reference([datas[0], datas[1]], [500, 700], 16, 128)
    )
    assert md.size == len(expected)
    check_random_reads(md, expected, count=500)
    # a read spanning every entry at once
    assert md.pread(md.size, 0) == expected
    assert md.pread(md.size - 99, 99) == expected[99:]


# -- striped ------------------------------------------------------------------


@pytest.mark.parametrize(
    "nstripes,chunk,length",
    [(2, 8, 512), (3, 16, 960), (2, 128, 1024), (3, 1, 300), (2, 24, 480), (1, 8, 64)],
)
def test_striped_against_reference(dm, images, nstripes, chunk, length):
    paths, datas = images
    for i, p in enumerate(paths):
        dm.add_device(f"d{i}", p)
    offsets = [0, 64, 128][:nstripes]
    pairs = " ".join(f"d{i} {offsets[i]}" for i in range(nstripes))
    md = dm.create("st", f"0 {length} striped {nstripes} {chunk} {pairs}")
    expected = striped_reference(datas[:nstripes], offsets, chunk, length)
    check_random_reads(md, expected)
    assert md.pread(md.size, 0) == expected


def test_striped_kernel_order_explicit(dm, images):
    """Chunk c goes to stripe c % n, at chunk c // n of that stripe."""
    paths, datas = images
    dm.add_device("a", paths[0])
    dm.add_device("b", paths[1])
    md = dm.create("st", "0 32 striped 2 8 a 0 b 16")
    cs = 8 * S
    assert md.pread(cs, 0 * cs) == datas[0][0:cs]  # chunk 0 -> a, chunk 0
    assert md.pread(cs, 1 * cs) == datas[1][16 * S : 16 * S + cs]  # chunk 1 -> b, chunk 0
    assert md.pread(cs, 2 * cs) == datas[0][cs : 2 * cs]  # chunk 2 -> a, chunk 1
    assert md.pread(cs, 3 * cs) == datas[1][16 * S + cs : 16 * S + 2 * cs]  # chunk 3 -> b, 1
    t = md.targets[0]
    assert t.map_sector(0) == (0, 0)
    assert t.map_sector(9) == (1, 17)
    assert t.map_sector(17) == (0, 9)


def test_striped_same_device_twice(dm, images):
    paths, datas = images
    dm.add_device("a", paths[0])
    md = dm.create("st", "0 256 striped 2 8 a 0 a 1024")
    expected = striped_reference([datas[0], datas[0]], [0, 1024], 8, 256)
    check_random_reads(md, expected)


def test_striped_many_chunks_one_read(dm, images):
    """More chunk pieces per stripe than one preadv call takes (IOV_MAX)."""
    paths, datas = images
    dm.add_device("a", paths[0])
    dm.add_device("b", paths[1])
    md = dm.create("st", "0 4096 striped 2 1 a 0 b 0")
    expected = striped_reference([datas[0], datas[1]], [0, 0], 1, 4096)
    assert md.pread(md.size, 0) == expected
    assert md.pread(md.size - 700, 300) == expected[300:-400]
    for _ in range(2):  # the fast reader gives way (and remembers to) to the general path
        buf = bytearray(md.size)
        assert md.table._fast[0](buf, 0, md.size) is False
        assert md.readinto(buf) == md.size and buf == expected
        md.seek(0)


def test_striped_fast_reads_equal_the_general_path(dm, images):
    """Striped over files reads with one preadv per stripe from read plans; every shape of
    read (start within a row of chunks, length) gives the bytes the target's own path does,
    also once the plans are forgotten, and stripes that are not files have no fast reader."""
    from lvmread.dm.targets import striped

    paths, datas = images
    dm.add_device("a", paths[0])
    dm.add_device("b", paths[1])
    dm.add_device("c", paths[0], start=100 * S, size=400 * S)
    md = dm.create("st", "0 384 striped 3 4 a 8 b 0 c 16")
    t = md.table
    fast = t._fast[0]
    assert fast is not None
    expected = striped_reference(
        [datas[0], datas[1], datas[0][100 * S :]], [8, 0, 16], 4, 384
    )
    rng = random.Random(3)
    shapes = [(0, md.size), (0, 12 * S), (4 * S, 8 * S), (3, 5 * S), (S, 1), (5000, 70000)]
    shapes += [(rng.randrange(md.size - 1), 0) for _ in range(200)]
    for i, (off, n) in enumerate(shapes):
        n = n or rng.randrange(1, md.size - off + 1)
        buf = bytearray(n)
        assert fast(buf, off, n) is True
        assert bytes(buf) == expected[off : off + n], (i, off, n)
        general = bytearray(n)
        t.targets[0].preadinto(general, off)
        assert general == buf
    plans = fast.__closure__  # the plans are bounded
    sizes = [len(c.cell_contents) for c in plans if type(c.cell_contents) is dict]
    assert sizes and all(0 < x <= striped._MAX_PLANS for x in sizes)
    # memoryviews of another format are read as bytes
    import array

    arr = array.array("I", bytes(4 * S))
    assert md.preadinto(memoryview(arr), 2 * S) == 4 * S
    assert arr.tobytes() == expected[2 * S : 6 * S]
    # a stripe over a device that is not a file: no fast reader, same bytes
    dm.add_device("m", Mem(datas[1]))
    slow = dm.create("slow", "0 64 striped 2 4 a 8 m 0")
    assert slow.table._fast == [None]
    check_random_reads(slow, striped_reference([datas[0], datas[1]], [8, 0], 4, 64), count=50)


# -- zero and error -----------------------------------------------------------


def test_zero_target(dm):
    md = dm.create("z", "0 5000 zero")
    assert md.size == 5000 * S
    assert md.read(3 << 20) == bytes(5000 * S)
    buf = bytearray(b"\xff" * 3000)
    assert md.preadinto(buf, 100) == 3000
    assert buf == bytes(3000)


def test_error_target_raises_naming_device_and_sector(dm, images):
    paths, _ = images
    dm.add_device("d0", paths[0])
    md = dm.create("vg0-broken", "0 8 linear d0 0\n8 16 error\n24 8 zero")
    assert md.pread(8 * S, 0) is not None
    assert md.pread(8 * S, 24 * S) == bytes(8 * S)
    with pytest.raises(DMIOError) as ei:
        md.pread(S, 10 * S)
    err = ei.value
    assert err.device == "vg0-broken"
    assert err.sector == 10
    assert "vg0-broken" in str(err) and "sector 10" in str(err)
    assert isinstance(err, OSError)
    # a read that starts before the error target also fails at its first sector
    with pytest.raises(DMIOError) as ei:
        md.seek(0)
        md.read(32 * S)
    assert ei.value.sector == 8


# -- file object behaviour ----------------------------------------------------


def test_file_object_protocol(dm, images):
    paths, datas = images
    dm.add_device("d0", paths[0])
    md = dm.create("lv", "0 100 linear d0 0")
    expected = datas[0][: 100 * S]
    assert isinstance(md, io.RawIOBase)
    assert md.readable() and md.seekable() and not md.writable()
    assert md.name == "lv" and md.devno == "253:0"
    assert md.size == 100 * S and md.sectors == 100
    assert md.seek(10) == 10 and md.tell() == 10
    assert md.seek(5, os.SEEK_CUR) == 15
    assert md.read(5) == expected[15:20]
    assert md.seek(-10, os.SEEK_END) == md.size - 10
    assert md.read(100) == expected[-10:]
    assert md.read(100) == b""
    assert md.seek(md.size + 100) == md.size + 100  # past the end is allowed, like files
    assert md.read(10) == b""
    assert md.readinto(bytearray(10)) == 0
    with pytest.raises(OSError):
        md.seek(-1)
    with pytest.raises(ValueError):
        md.seek(0, 3)
    with pytest.raises(io.UnsupportedOperation):
        md.write(b"x")
    with pytest.raises(io.UnsupportedOperation):
        md.truncate(0)
    md.seek(0)
    # buffered wrapper and readinto of a non-byte buffer
    br = io.BufferedReader(md, buffer_size=4096)
    assert br.read(700) == expected[:700]
    assert br.read(S * 100) == expected[700:]
    br.detach()
    import array

    arr = array.array("i", [0] * 64)
    md.seek(0)
    assert md.readinto(arr) == 256
    assert arr.tobytes() == expected[:256]
    md.close()
    assert md.closed
    with pytest.raises(ValueError):
        md.read(1)


def test_close_file_keeps_mapping_for_stacking(dm, images):
    paths, datas = images
    dm.add_device("d0", paths[0])
    low = dm.create("low", "0 100 linear d0 0")
    top = dm.create("top", "0 50 linear low 50")
    low.close()
    assert top.read(S) == datas[0][50 * S : 51 * S]


def test_threads_share_positional_reads(dm, images):
    paths, datas = images
    dm.add_device("a", paths[0])
    dm.add_device("b", paths[1])
    md = dm.create("st", "0 2048 striped 2 16 a 0 b 0")
    expected = striped_reference([datas[0], datas[1]], [0, 0], 16, 2048)
    errors = []

    def worker(seed):
        rng = random.Random(seed)
        for _ in range(200):
            off = rng.randrange(md.size)
            n = rng.randrange(1, 40000)
            if md.pread(n, off) != expected[off : off + n]:
                errors.append((off, n))

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# -- stacking -----------------------------------------------------------------


def test_stacking_by_name_and_devno(dm, images):
    paths, datas = images
    dm.add_device("a", paths[0])
    dm.add_device("b", paths[1])
    st = dm.create("st", "0 1024 striped 2 8 a 0 b 0")
    base = striped_reference([datas[0], datas[1]], [0, 0], 8, 1024)
    assert st.devno == "253:0"
    by_name = dm.create("by-name", "0 500 linear st 24")
    by_devno = dm.create("by-devno", "0 100 linear 253:0 900\n100 100 linear st 0")
    assert by_devno.devno == "253:2"
    check_random_reads(by_name, base[24 * S : 524 * S], count=100)
    check_random_reads(by_devno, base[900 * S : 1000 * S] + base[: 100 * S], count=100)
    # a third level
    top = dm.create("top", "0 50 linear by-name 10")
    assert top.read() == base[34 * S : 84 * S]
    assert top.table.depth == 3
    assert [r.token for r in top.devices()] == ["by-name"]


def test_mapped_device_lookup_and_remove(dm, images):
    paths, _ = images
    dm.add_device("a", paths[0])
    low = dm.create("low", "0 10 linear a 0")
    dm.create("top", "0 10 linear low 0")
    assert "low" in dm and "253:0" in dm and "nope" not in dm
    assert dm["253:1"].name == "top"
    assert sorted(dm) == ["low", "top"] and len(dm) == 2
    from lvmread.dm import DMError

    with pytest.raises(DMError, match="in use by top"):
        dm.remove("low")
    with pytest.raises(DMError, match="in use"):
        dm.remove_device("a")
    dm.remove("top")
    dm.remove("low")
    assert low.closed
    # the minor numbers are reused, lowest first
    assert dm.create("again", "0 10 zero").devno == "253:0"


def test_regions_of_an_image(dm, tmp_path):
    """Partitions: regions of one image file registered as devices."""
    data = make_image(tmp_path / "disk.img", 1 << 20, seed=5)
    dm.add_device("disk.img@p1", tmp_path / "disk.img", start=4096, size=256 * S)
    dm.add_device("disk.img@p2", tmp_path / "disk.img", start=4096 + 256 * S)
    p2 = 4096 + 256 * S
    md = dm.create("lv", "0 16 linear disk.img@p1 240\n16 16 linear disk.img@p2 0")
    assert md.read() == data[4096 + 240 * S : 4096 + 256 * S] + data[p2 : p2 + 16 * S]


class Mem:
    """An underlying device that is an object with ``pread`` (not a file)."""

    def __init__(self, data):
        self.data = data
        self.size = len(data)

    def pread(self, length, offset):
        return self.data[offset : offset + length]


class MemInto(Mem):
    def preadinto(self, buf, offset):
        buf[:] = self.data[offset : offset + len(buf)]
        return len(buf)


def test_object_devices(dm):
    a = random.Random(1).randbytes(64 * S)
    b = random.Random(2).randbytes(64 * S)
    dm.add_device("a", Mem(a))
    dm.add_device("b", MemInto(b))
    dm.add_device("b-part", MemInto(b), start=8 * S, size=16 * S)
    md = dm.create("st", "0 64 striped 2 4 a 0 b 32\n64 16 linear b-part 0")
    expected = striped_reference([a, b], [0, 32], 4, 64) + b[8 * S : 24 * S]
    check_random_reads(md, expected, count=100)


def test_flat_fast_path_matches_general_path(dm, images):
    """Linear mappings (also stacked, also on regions) read with one syscall."""
    paths, datas = images
    dm.add_device("a", paths[0])
    dm.add_device("a-part", paths[0], start=64 * S, size=512 * S)
    dm.add_device("b", paths[1])
    low = dm.create("low", "0 100 linear a 10\n100 100 linear a-part 0\n200 64 striped 2 8 a 0 b 0")
    top = dm.create("top", "0 90 linear low 5\n90 50 linear low 150\n140 60 linear low 190")
    assert [f is not None for f in low.table._flat] == [True, True, False]
    assert low.table.flat_range(0, 100 * S) == (low.table._flat[0][0], 10 * S)
    assert low.table.flat_range(S, 100 * S) is None  # crosses a target
    # stacked linear over a flat target is flat; over the striped one it is not
    assert [f is not None for f in top.table._flat] == [True, True, False]
    expected_low = (
        datas[0][10 * S : 110 * S]
        + datas[0][64 * S : 164 * S]
        + striped_reference([datas[0], datas[1]], [0, 0], 8, 64)
    )
    expected_top = expected_low[5 * S : 95 * S] + expected_low[150 * S : 200 * S]
    expected_top += expected_low[190 * S : 250 * S]
    check_random_reads(low, expected_low, count=200)
    check_random_reads(top, expected_top, count=200)


def test_fast_path_never_reads_a_closed_descriptor(dm, images):
    paths, _ = images
    dev = dm.add_device("a", paths[0])
    md = dm.create("lv", "0 100 linear a 0")
    dev.close()  # behind the mapper's back
    with pytest.raises(DMIOError):
        md.read(S)
    with pytest.raises(DMIOError):
        md.readinto(bytearray(S))
    with pytest.raises(DMIOError):
        md.pread(S, 0)


def test_readinto_memoryviews(dm, images):
    import array

    paths, datas = images
    dm.add_device("a", paths[0])
    dm.add_device("b", paths[1])
    lin = dm.create("lin", "0 100 linear a 3")
    st = dm.create("st", "0 64 striped 2 8 a 0 b 0")
    exp_lin = datas[0][3 * S : 103 * S]
    exp_st = striped_reference([datas[0], datas[1]], [0, 0], 8, 64)
    for md, exp in ((lin, exp_lin), (st, exp_st)):
        buf = bytearray(3000)
        view = memoryview(buf)[100:2100]
        md.seek(77)
        assert md.readinto(view) == 2000
        assert bytes(buf[100:2100]) == exp[77:2077] and buf[:100] == bytes(100)
        ints = array.array("i", [0] * 100)
        assert md.preadinto(memoryview(ints), 5) == 400
        assert ints.tobytes() == exp[5:405]
        assert md.preadinto(memoryview(buf)[:10], md.size - 4) == 4
        assert bytes(buf[:4]) == exp[-4:]


def test_reopen_gives_independent_file_objects(dm, images):
    paths, datas = images
    dm.add_device("a", paths[0])
    md = dm.create("lin", "0 100 linear a 0")
    other = md.reopen()
    md.seek(10)
    assert other.tell() == 0
    other.close()
    assert md.read(5) == datas[0][10:15]
    assert other.closed and not md.closed


def _failing_sectors(md) -> list:
    """(offset, length) runs of the sectors whose reads fail, found by reading each one."""
    bad = []
    for s in range(md.sectors):
        try:
            md.pread(S, s * S)
        except DMIOError:
            if bad and bad[-1][0] + bad[-1][1] == s * S:
                bad[-1] = (bad[-1][0], bad[-1][1] + S)
            else:
                bad.append((s * S, S))
    return bad


def test_error_ranges_are_the_sectors_that_fail(dm, images):
    """error_ranges foretells exactly which reads fail, through linear, striped, regions
    and stacking, for the whole device and for any part of it."""
    paths, _ = images
    dm.add_device("a", paths[0])
    dm.add_device("b", paths[1], start=8 * S, size=200 * S)
    dm.create("hole", "0 24 linear b 0\n24 8 error\n32 40 zero")  # fails at 24..31
    dm.create("gone", "0 64 error")
    md = dm.create(
        "top",
        "0 16 linear a 0\n16 48 striped 3 4 hole 0 a 100 gone 8\n64 8 error\n"
        "72 40 linear hole 2\n112 16 striped 2 8 a 0 hole 16",
    )
    want = _failing_sectors(md)
    assert want and md.error_ranges() == want
    rng = random.Random(5)
    for _ in range(300):
        off = rng.randrange(md.size)
        n = rng.randrange(1, md.size - off + 1)
        clipped = [(max(o, off), min(o + k, off + n) - max(o, off)) for o, k in want
                   if o < off + n and o + k > off]
        assert md.error_ranges(off, n) == clipped, (off, n)
    ok = dm.create("ok", "0 100 linear a 3")
    assert ok.error_ranges() == []


def test_zero_ranges_through_linear_and_striped(dm, images):
    paths, _ = images
    dm.add_device("a", paths[0])
    dm.create("z", "0 64 zero")
    md = dm.create("lv", "0 8 zero\n8 8 linear a 0\n16 16 striped 2 4 z 0 a 0\n32 8 error")
    assert md.zero_ranges() == [(0, 8 * S), (16 * S, 4 * S), (24 * S, 4 * S)]
    assert md.zero_ranges(3 * S, 19 * S) == [(3 * S, 5 * S), (16 * S, 4 * S)]
    assert md.error_ranges() == [(32 * S, 8 * S)]
    assert md.pread(8 * S, 0) == bytes(8 * S)


def test_striped_error_ranges_random_layouts(dm, images):
    """Stripes over devices with errors here and there: error_ranges equals the sectors
    whose reads fail, for many random layouts and ranges."""
    paths, _ = images
    dm.add_device("a", paths[0])
    rng = random.Random(11)
    for k in range(30):
        stripes = []
        for s in range(rng.randint(1, 3)):
            lines, at = [], 0
            while at < 96:
                n = min(rng.choice([1, 3, 4, 8, 20]), 96 - at)
                kind = rng.choice(["error", f"linear a {rng.randrange(200)}"])
                lines.append(f"{at} {n} {kind}")
                at += n
            name = f"s{k}_{s}"
            dm.create(name, "\n".join(lines))
            stripes.append(name)
        chunk = rng.choice([1, 2, 4, 8])
        length = 96 * len(stripes) // (chunk * len(stripes)) * chunk * len(stripes)
        args = " ".join(f"{name} 0" for name in stripes)
        md = dm.create(f"st{k}", f"0 {length} striped {len(stripes)} {chunk} {args}")
        want = _failing_sectors(md)
        assert md.error_ranges() == want, k
        for _ in range(20):
            off = rng.randrange(md.size)
            n = rng.randrange(1, md.size - off + 1)
            clipped = [(max(o, off), min(o + m, off + n) - max(o, off)) for o, m in want
                       if o < off + n and o + m > off]
            assert md.error_ranges(off, n) == clipped, (k, off, n)


def test_striped_error_ranges_grow_with_the_answer_not_the_length(dm):
    """Two stripes both on a missing device: one range for a 2 PiB target, at once; one
    of them missing: a range per chunk, so ask about windows."""
    huge = 1 << 42  # sectors: 2 PiB
    dm.create("gone0", f"0 {huge} error")
    dm.create("gone1", f"0 {huge} error")
    dm.create("zeros", f"0 {huge} zero")
    both = dm.create("both", f"0 {2 * huge} striped 2 8 gone0 0 gone1 0")
    assert both.error_ranges() == [(0, both.size)]
    one = dm.create("one", f"0 {2 * huge} striped 2 8 gone0 0 zeros 0")
    window = one.error_ranges(1 << 40, 1 << 20)
    assert window == [((1 << 40) + i * 8192, 4096) for i in range(128)]
    assert one.zero_ranges(1 << 40, 1 << 20) == [(o + 4096, 4096) for o, _ in window]
