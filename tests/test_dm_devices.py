"""Underlying devices: read-only opens, resolution of table tokens, closing, isolation."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lvmread.dm import (
    DeviceMapper,
    DMDeviceError,
    DMIOError,
    DMTableError,
    FileDevice,
)
from lvmread.dm.devices import parse_devno, sysfs_devnode

S = 512
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@pytest.fixture
def img(tmp_path):
    p = tmp_path / "disk.img"
    p.write_bytes(bytes(range(256)) * 256)  # 64 KiB = 128 sectors
    return p


@pytest.fixture
def opens(monkeypatch):
    """Record the flags of every os.open call."""
    calls = []
    real_open = os.open

    def spy(path, flags, *args, **kwargs):
        calls.append((os.fspath(path), flags))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    return calls


def fake_sysfs(tmp_path, devno: str, target: str):
    """A /sys stand-in where block device ``devno`` is ``target`` (an absolute DEVNAME)."""
    d = tmp_path / "sys" / "dev" / "block" / devno
    d.mkdir(parents=True)
    (d / "uevent").write_text(f"MAJOR=7\nMINOR=0\nDEVNAME={target}\nDEVTYPE=disk\n")
    return str(tmp_path / "sys")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")


def test_everything_opened_read_only(tmp_path, img, opens):
    before = img.stat()
    sysfs = fake_sysfs(tmp_path, "7:0", str(img))
    with DeviceMapper(sysfs=sysfs) as dm:
        dm.add_device("reg", str(img))
        dm.add_device("part", img, start=S, size=64 * S)
        md = dm.create(
            "lv",
            f"0 8 linear reg 0\n8 8 linear part 0\n16 8 linear {img} 0\n24 8 linear 7:0 8\n",
        )
        assert md.read() == img.read_bytes()[: 8 * S] + img.read_bytes()[S : 9 * S] + (
            img.read_bytes()[: 8 * S] + img.read_bytes()[8 * S : 16 * S]
        )
        assert md.table_text().splitlines()[3] == "24 8 linear 7:0 8"
    assert opens, "no os.open call seen"
    for path, flags in opens:
        assert flags & WRITE_FLAGS == 0, (path, flags)
        assert flags & os.O_ACCMODE == os.O_RDONLY
    after = img.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_host_devices_shared_and_released(tmp_path, img, opens):
    sysfs = fake_sysfs(tmp_path, "7:0", str(img))
    with DeviceMapper(sysfs=sysfs) as dm:
        dm.create("a", f"0 8 linear {img} 0\n8 8 linear {img} 8")
        dm.create("b", f"0 8 linear {tmp_path}/../{tmp_path.name}/disk.img 0")
        assert len(opens) == 1  # one file, however it is spelled, opened once
        dev = dm.lookup(str(img))
        assert isinstance(dev, FileDevice) and dev.fd >= 0
        dm.remove("a")
        assert dev.fd >= 0  # still used by "b"
        dm.remove("b")
        assert dev.fd == -1  # released with its last user


@needs_proc
def test_close_releases_all_descriptors(tmp_path, img):
    base = open_fds()
    dm = DeviceMapper()
    dm.add_device("reg", str(img))
    dm.create("a", f"0 8 linear {img} 0\n8 8 linear reg 0")
    dm.create("b", "0 16 linear a 0")
    assert open_fds() == base + 2
    dm.close()
    assert open_fds() == base
    assert dm.closed
    dm.close()  # idempotent
    with pytest.raises(Exception, match="closed"):
        dm.create("c", "0 8 zero")


@needs_proc
def test_failed_create_releases_what_it_opened(tmp_path, img):
    with DeviceMapper() as dm:
        base = open_fds()
        with pytest.raises(DMTableError):
            dm.create("x", f"0 8 linear {img} 0\n8 8 linear {img} 1000")  # second too small
        assert open_fds() == base
        assert "x" not in dm


def test_major_minor_via_sysfs(tmp_path, img):
    sysfs = fake_sysfs(tmp_path, "7:3", str(img))
    assert sysfs_devnode(7, 3, sysfs=sysfs) == str(img)
    with DeviceMapper(sysfs=sysfs) as dm:
        with pytest.raises(DMTableError, match="no such block device"):
            dm.create("x", "0 8 linear 7:9 0")


def test_sysfs_relative_devname(tmp_path):
    d = tmp_path / "sys" / "dev" / "block" / "8:1"
    d.mkdir(parents=True)
    (d / "uevent").write_text("MAJOR=8\nMINOR=1\nDEVNAME=sda1\n")
    assert sysfs_devnode(8, 1, sysfs=str(tmp_path / "sys")) == "/dev/sda1"


def test_pseudo_major_never_reaches_host(tmp_path, img):
    sysfs = fake_sysfs(tmp_path, "253:0", str(img))
    with DeviceMapper(sysfs=sysfs) as dm:
        with pytest.raises(DMTableError, match="no such mapped device"):
            dm.create("x", "0 8 linear 253:0 0")


def test_parse_devno():
    assert parse_devno("7:0") == (7, 0)
    assert parse_devno("259:65536") == (259, 65536)
    assert parse_devno("7:0x") is None
    assert parse_devno("/dev/sda") is None
    assert parse_devno("4096:0") is None  # major does not fit MKDEV


def test_regions(img):
    d = FileDevice(img, start=S, size=10 * S)
    try:
        assert d.size == 10 * S and d.sectors == 10
        assert (
            d.pread(4, 0) == bytes(range(256))[:4]
            and d.pread(2, 10 * S - 2) == bytes(range(256))[254:256]
        )
        with pytest.raises(DMIOError):
            d.pread(1, 10 * S)
    finally:
        d.close()
    with pytest.raises(DMDeviceError, match="past the end"):
        FileDevice(img, start=100 * S, size=100 * S)
    with pytest.raises(DMDeviceError, match="negative"):
        FileDevice(img, start=-1)
    with pytest.raises(DMDeviceError, match="cannot open"):
        FileDevice(img.parent / "missing.img")


def test_not_a_file_or_block_device(tmp_path):
    with pytest.raises(DMDeviceError, match="not a regular file or block device"):
        FileDevice(tmp_path)
    if os.path.exists("/dev/null"):
        with pytest.raises(DMDeviceError, match="not a regular file or block device"):
            FileDevice("/dev/null")


def test_truncated_underneath_is_an_io_error(tmp_path):
    p = tmp_path / "shrinks.img"
    p.write_bytes(bytes(64 * S))
    with DeviceMapper() as dm:
        dm.add_device("d", str(p))
        md = dm.create("lv", "0 64 linear d 0")
        os.truncate(p, 8 * S)
        assert md.pread(S, 0) == bytes(S)
        with pytest.raises(DMIOError, match="short read"):
            md.pread(S, 32 * S)
        with pytest.raises(DMIOError, match="short read") as ei:
            md.readinto(bytearray(20 * S))
        assert ei.value.device == "lv" and str(ei.value).startswith("lv: d: short read")


def test_object_device_needs_methods():
    with DeviceMapper() as dm:
        with pytest.raises(DMDeviceError, match="needs a size"):
            dm.add_device("x", object())


def test_dm_imports_nothing_else_from_lvmread():
    code = (
        "import sys\n"
        "import lvmread\n"
        "before = set(sys.modules)\n"
        "import lvmread.dm, lvmread.dm.mapper, lvmread.dm.targets\n"
        "from lvmread.dm import DeviceMapper\n"
        "with DeviceMapper() as dm:\n"
        "    dm.create('z', '0 8 zero\\n8 8 error')\n"
        "new = sorted(m for m in set(sys.modules) - before if m.startswith('lvmread'))\n"
        "bad = [m for m in new if m != 'lvmread.dm' and not m.startswith('lvmread.dm.')]\n"
        "assert 'lvmread.dm.targets.linear' in new, new\n"
        "print('BAD', bad)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "BAD []", out.stdout + out.stderr


def test_dm_sources_import_only_lvmread_dm():
    import ast

    import lvmread.dm

    root = os.path.dirname(lvmread.dm.__file__)
    for dirpath, _, files in os.walk(root):
        for fn in files:
            if not fn.endswith(".py"):
                continue
            path = os.path.join(dirpath, fn)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    assert node.level == 0, f"{path}: relative import"
                    names = [node.module or ""]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                for name in names:
                    if name == "lvmread" or name.startswith("lvmread."):
                        assert name == "lvmread.dm" or name.startswith("lvmread.dm."), (
                            f"{path} imports {name}"
                        )
