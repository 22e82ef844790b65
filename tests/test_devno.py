"""Tables for a kernel name devices by major:minor: block devices, loop devices on images."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from lvmread.errors import ActivationError
from lvmread.inputs.blockdev import devno


def _fake_loop(sysfs, n: int, backing: str, offset: int = 0, sizelimit: int = 0, parts=()):
    loop = sysfs / "block" / f"loop{n}"
    (loop / "loop").mkdir(parents=True)
    (loop / "dev").write_text(f"7:{n}\n")
    (loop / "loop" / "backing_file").write_text(backing + "\n")
    (loop / "loop" / "offset").write_text(f"{offset}\n")
    (loop / "loop" / "sizelimit").write_text(f"{sizelimit}\n")
    for i, start in parts:
        p = loop / f"loop{n}p{i}"
        p.mkdir()
        (p / "partition").write_text(f"{i}\n")
        (p / "start").write_text(f"{start // 512}\n")
        (p / "dev").write_text(f"259:{i}\n")


def test_loop_devices_found_through_sysfs(tmp_path):
    img = tmp_path / "disk.img"
    img.write_bytes(b"\0" * 4096)
    sysfs = tmp_path / "sys"
    _fake_loop(sysfs, 3, str(img.resolve()))
    _fake_loop(sysfs, 4, str(img.resolve()), offset=1048576, sizelimit=2048)
    _fake_loop(sysfs, 5, str(img.resolve()), parts=[(2, 2097152)])
    assert devno(str(img), 0, 4096, sysfs=str(sysfs)) == "7:3"
    assert devno(str(img), 1048576, 2048, sysfs=str(sysfs)) == "7:4"
    assert devno(str(img), 2097152, 1024, sysfs=str(sysfs)) == "259:2"
    with pytest.raises(ActivationError, match="losetup -r -f --show -o 512 --sizelimit 100"):
        devno(str(img), 512, 100, sysfs=str(sysfs))


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("losetup") is None, reason="needs root and losetup"
)
def test_table_devno_with_real_loop_devices(fixture_images):
    images = [str(p) for p in fixture_images.images("twopv")]
    try:
        loops = [
            subprocess.run(["losetup", "-r", "-f", "--show", i], capture_output=True, text=True,
                           check=True).stdout.strip()
            for i in images
        ]
    except (subprocess.CalledProcessError, OSError):
        pytest.skip("no loop device could be attached")
    try:
        numbers = {}
        for img, loop in zip(images, loops):
            st = os.stat(loop)
            numbers[img] = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
        run = [sys.executable, "-m", "lvmread.cli", "table"]
        by_image = subprocess.run([*run, "vgtwo/striped", *images], capture_output=True,
                                  text=True, check=True).stdout
        by_devno = subprocess.run([*run, "--devno", "vgtwo/striped", *images],
                                  capture_output=True, text=True, check=True).stdout
        on_loops = subprocess.run([*run, "--devno", "vgtwo/striped", *loops],
                                  capture_output=True, text=True, check=True).stdout
        expect = by_image
        for img, mm in numbers.items():
            expect = expect.replace(img, mm)
        assert by_devno == expect == on_loops
        assert "striped 2 128" in by_devno
    finally:
        for loop in loops:
            subprocess.run(["losetup", "-d", loop], check=False)


def _fake_block(sysfs, path: str, devno_: str, **files):
    d = sysfs / "block" / path
    d.mkdir(parents=True, exist_ok=True)
    (d / "dev").write_text(devno_ + "\n")
    for name, text in files.items():
        (d / name).write_text(text + "\n")
    link = sysfs / "dev" / "block" / devno_
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(d)
    return d


def test_storage_of_partitions_loops_and_stacked_devices(tmp_path):
    """Where a device keeps its bytes: its disk and that disk's partitions, the file behind
    a loop device, the devices under a dm device; a file, the file itself."""
    from lvmread.inputs.blockdev import block_storage, storage

    img = tmp_path / "disk.img"
    img.write_bytes(b"\0" * 4096)
    sysfs = tmp_path / "sys"
    _fake_block(sysfs, "sda", "8:0")
    _fake_block(sysfs, "sda/sda1", "8:1", partition="1")
    _fake_block(sysfs, "sda/sda2", "8:2", partition="2")
    _fake_block(sysfs, "sdb", "8:16")
    dm0 = _fake_block(sysfs, "dm-0", "253:0")
    (dm0 / "slaves").mkdir()
    (dm0 / "slaves" / "sda2").symlink_to(sysfs / "block" / "sda" / "sda2")
    loop = _fake_block(sysfs, "loop0", "7:0")
    (loop / "loop").mkdir()
    (loop / "loop" / "backing_file").write_text(f"{img}\n")
    s = str(sysfs)
    disk_a = {("blk", "8:0"), ("blk", "8:1"), ("blk", "8:2")}
    assert block_storage("8:1", s) == disk_a
    assert block_storage("8:0", s) == disk_a
    assert block_storage("8:16", s) == {("blk", "8:16")}
    assert block_storage("253:0", s) == disk_a | {("blk", "253:0")}
    st = os.stat(img)
    assert ("file", st.st_dev, st.st_ino) in block_storage("7:0", s)
    assert storage(st, s) == {("file", st.st_dev, st.st_ino)}
    assert block_storage("9:9", s) == {("blk", "9:9")}  # not in sysfs: the device alone


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("losetup") is None, reason="needs root and losetup"
)
def test_cat_never_writes_through_a_loop_device(fixture_images, tmp_path):
    """The image behind an input loop device, and a loop device on an input image, are
    the input: cat refuses to write to either, and the image is unchanged."""
    img = tmp_path / "disk.img"
    shutil.copyfile(fixture_images.images("single")[0], img)
    before = img.read_bytes()
    try:
        loop = subprocess.run(["losetup", "-r", "-f", "--show", str(img)], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (subprocess.CalledProcessError, OSError):
        pytest.skip("no loop device could be attached")
    try:
        for image, out in ((loop, img), (img, loop)):
            cp = subprocess.run(
                [sys.executable, "-m", "lvmread.cli", "cat", "vg0/lva", str(image), "-o",
                 str(out)], capture_output=True, text=True, check=False,
            )
            assert cp.returncode == 2, cp.stderr
            assert "never writes to its inputs" in cp.stderr
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)
    assert img.read_bytes() == before


def test_loop_device_over_another_name_of_the_image(tmp_path):
    """A loop device attached through another name of the image (a hard link) is the
    image's: it is matched by inode, as the output guard matches it, not by path."""
    img = tmp_path / "disk.img"
    img.write_bytes(b"\0" * 4096)
    other = tmp_path / "other-name.img"
    os.link(img, other)
    sysfs = tmp_path / "sys"
    _fake_loop(sysfs, 6, str(other.resolve()))
    assert devno(str(img), 0, 4096, sysfs=str(sysfs)) == "7:6"
