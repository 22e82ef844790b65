"""Tables for a kernel name devices by major:minor: block devices, loop devices on images."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from lvmread.blockdev import devno
from lvmread.errors import ActivationError


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
