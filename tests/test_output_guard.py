"""Outputs never land on storage an input holds (issue 9, case 1).

Every command that writes (``cat -o``, ``cat`` to a redirected stdout, ``history --save``
and each file it writes) refuses, before creating anything, an output on: the input
itself, a loop device over an input image or a partition or holder of one, a file system
mounted from any of these, for new and existing paths alike. The logic is tested on fake
sysfs trees (no root needed), and end to end on real loop devices and a mounted ext4.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from lvmread.copy import OutputGuard, check_output
from lvmread.errors import UsageError
from lvmread.inputs.blockdev import StorageGraph

ROOT = Path(__file__).resolve().parent.parent
NEVER = "lvmread never writes to its inputs"


def _dev(path: Path) -> str:
    st = os.stat(path)
    return f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"


def _block(sysfs: Path, rel: str, devno: str, backing: str | None = None) -> Path:
    """A fake sysfs device at block/REL (a partition when REL has a /), linked from
    dev/block/DEVNO; with ``backing``, a loop device over that path."""
    d = sysfs / "block" / rel
    d.mkdir(parents=True)
    (d / "dev").write_text(devno + "\n")
    if "/" in rel:
        (d / "partition").write_text("1\n")
    if backing is not None:
        (d / "loop").mkdir()
        (d / "loop" / "backing_file").write_text(backing + "\n")
    link = sysfs / "dev" / "block" / devno
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(d)
    return d


def _stack(upper: Path, lower: Path) -> None:
    """``upper`` (a dm or md device) is built on ``lower``: slaves and holders links."""
    for folder, target in ((upper / "slaves", lower), (lower / "holders", upper)):
        folder.mkdir(exist_ok=True)
        (folder / target.name).symlink_to(target)


@pytest.fixture
def scene(tmp_path):
    """An input image, and a folder on the file system tmp_path is on (its device faked
    in each test's sysfs tree)."""
    img = tmp_path / "disk.img"
    img.write_bytes(b"evidence" * 512)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    return img, mnt, tmp_path / "sys"


def test_new_and_existing_outputs_on_a_file_system_over_an_input_image(scene):
    """The case of the issue: a file system mounted from a loop device over the input image
    (here the device of tmp_path's file system, as the fake sysfs tells). New files, an
    existing file, a folder to create: all refused, nothing created."""
    img, mnt, sysfs = scene
    _block(sysfs, "loop1", _dev(mnt), backing=str(img))
    existing = mnt / "existing.bin"
    existing.write_bytes(b"keep me")
    guard = OutputGuard([str(img)], str(sysfs))
    for out in (mnt / "new.bin", existing, mnt / "a" / "b" / "c.bin"):
        with pytest.raises(UsageError) as exc:
            guard.check(str(out))
        assert str(exc.value) == (
            f"the output {out} is on a file system of /dev/loop1, a loop device over the "
            f"input {img}; {NEVER}"
        )
    for folder in (mnt / "d" / "e", mnt):  # to be made, or there already
        with pytest.raises(UsageError, match=f"the folder {folder} is on a file system of "):
            guard.check(str(folder), folder=True)
    guard.check(str(img), folder=True)  # a file: no folder can be made there (said later)
    with pytest.raises(UsageError, match=NEVER):
        check_output(str(mnt / "new.bin"), [str(img)], str(sysfs))
    assert sorted(p.name for p in mnt.iterdir()) == ["existing.bin"]
    assert existing.read_bytes() == b"keep me"
    # the same outputs with no loop device over the image: nothing connects them
    empty = sysfs.parent / "empty-sys"
    empty.mkdir()
    for out in (mnt / "new.bin", existing, mnt / "a" / "b" / "c.bin"):
        OutputGuard([str(img)], str(empty)).check(str(out))


def test_output_on_a_device_stacked_on_a_partition_of_a_loop_device(scene):
    """An image, a loop device over it with a partition, a dm device on that partition
    holding the output's file system: found through partitions and holders, whichever
    input names the chain (the image, or the loop device's partition as a path that
    resolves to that inode)."""
    img, mnt, sysfs = scene
    loop = _block(sysfs, "loop2", "7:2", backing=str(img))
    part = _block(sysfs, "loop2/loop2p1", "259:1")
    dm = _block(sysfs, "dm-0", _dev(mnt))
    _stack(dm, part)
    with pytest.raises(UsageError) as exc:
        OutputGuard([str(img)], str(sysfs)).check(str(mnt / "new.bin"))
    assert str(exc.value) == (
        f"the output {mnt}/new.bin is on a file system of /dev/dm-0, a device stacked on "
        f"/dev/loop2p1, a partition of /dev/loop2, a loop device over the input {img}; "
        f"{NEVER}"
    )
    g = StorageGraph(str(sysfs))
    st = os.stat(img)
    image = ("file", st.st_dev, st.st_ino)
    everything = {image, ("blk", "7:2"), ("blk", "259:1"), ("blk", _dev(mnt))}
    # what the image is connected to (up and down), and what the dm device is built from
    assert set(g.closure([image], up=True)) == everything
    assert set(g.closure([("blk", _dev(mnt))], up=False)) == everything
    assert set(g.closure([image], up=False)) == {image}  # a file is built on nothing
    assert set(g.closure([("blk", "259:1")], up=False)) == everything - {("blk", _dev(mnt))}
    assert loop.is_dir()


def test_loop_backing_file_matched_by_inode_not_by_path(scene):
    """sysfs shows a loop device's backing file by a path: another name of the same inode
    (a hard link) is the same input; the path of an unlinked backing file (' (deleted)')
    names another file now, never the input."""
    img, mnt, sysfs = scene
    alias = img.parent / "alias.img"
    os.link(img, alias)
    _block(sysfs, "loop3", _dev(mnt), backing=str(alias))
    with pytest.raises(UsageError, match=f"a loop device over the input {img}; "):
        OutputGuard([str(img)], str(sysfs)).check(str(mnt / "new.bin"))
    other = sysfs.parent / "other-sys"
    _block(other, "loop4", _dev(mnt), backing=f"{img} (deleted)")
    OutputGuard([str(img)], str(other)).check(str(mnt / "new.bin"))


def test_block_device_inputs_reach_disk_partitions_holders(tmp_path):
    """From a block device: its disk, the disk's other partitions, what is stacked on any of
    them (dm, md) and what that is built from; from a disk, nothing on another disk. A
    holder that links back (a loop in sysfs) ends the walk."""
    sysfs = tmp_path / "sys"
    sda = _block(sysfs, "sda", "8:0")
    sda1 = _block(sysfs, "sda/sda1", "8:1")
    sda2 = _block(sysfs, "sda/sda2", "8:2")
    sdb = _block(sysfs, "sdb", "8:16")
    md = _block(sysfs, "md0", "9:0")
    _stack(md, sda2)
    _stack(md, sdb)
    _stack(sda, md)  # a cycle sysfs should never show: still ends
    g = StorageGraph(str(sysfs))
    up = set(g.closure([("blk", "8:1")], up=True))
    assert up == {("blk", m) for m in ("8:0", "8:1", "8:2", "9:0", "8:16")}
    assert sda1.is_dir()
    sdc = _block(sysfs, "sdc", "8:32")
    assert set(StorageGraph(str(sysfs)).closure([("blk", "8:32")], up=True)) == {
        ("blk", "8:32")
    }
    assert sdc.is_dir()


def test_outputs_elsewhere_are_written(scene):
    """Not everything is refused: a file on another file system than the one over the
    input, stdout when it is not a file, an output under a regular file (open fails)."""
    img, mnt, sysfs = scene
    _block(sysfs, "loop1", "7:1", backing=str(img))  # over the image, but no file system
    guard = OutputGuard([str(img)], str(sysfs))
    guard.check(str(mnt / "new.bin"))
    guard.check(str(img) + "/under-a-file")
    guard.check(None)  # pytest's captured stdout: not an input's storage
    with pytest.raises(UsageError, match=f"the output {img} is the input {img}; "):
        guard.check(str(img))
    link = mnt / "link.img"
    link.symlink_to(img)
    with pytest.raises(UsageError, match=f"the output {link} is the input {img}; "):
        guard.check(str(link))


def test_file_system_with_an_anonymous_device_number(tmp_path):
    """btrfs and the like give files an st_dev of major 0: the device they are mounted
    from is the source /proc/self/mountinfo names (its octal escapes undone)."""
    node = tmp_path / "my disk"
    try:
        os.mknod(node, 0o600 | stat.S_IFBLK, os.makedev(7, 200))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a block device node (needs root): {exc}")
    info = tmp_path / "mountinfo"
    source = str(node).replace(" ", "\\040")
    info.write_text(f"36 25 0:99 / /mnt/x rw,relatime shared:1 - btrfs {source} rw\n"
                    "37 25 0:98 / /run rw - tmpfs tmpfs rw\n")
    g = StorageGraph(str(tmp_path / "sys"), str(info))
    assert g.fs_devices(os.makedev(0, 99)) == [("blk", "0:99"), ("blk", "7:200")]
    assert g.name(("blk", "7:200")) == str(node)
    assert g.fs_devices(os.makedev(0, 98)) == [("blk", "0:98")]
    assert g.fs_devices(os.makedev(8, 1)) == [("blk", "8:1")]


# ------------------------------------------------- real loop devices and a mounted ext4

P6_START, P6_SIZE = 28672 * 512, 4096 * 512  # fixtures/mbr: partition 6 holds an ext4


def _run(argv: list[str], stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "lvmread.cli", *argv], stdout=stdout,
                          stderr=subprocess.PIPE, env=env, timeout=120, check=False)


NEEDS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("losetup") is None or shutil.which("mount") is None,
    reason="needs root, losetup and mount (loop devices and an ext4 mount)",
)


@contextlib.contextmanager
def _mounted_p6(img: Path, mnt: Path, whole: bool) -> Iterator[list[str]]:
    """Partition 6 of ``img`` on a loop device, its ext4 mounted on ``mnt``; with
    ``whole``, the whole image on a read-only loop device too (listed first). Skips the
    test when that cannot be done; undone on the way out."""
    loops: list[str] = []
    mounted = False
    try:
        try:
            for args in (["-r", str(img)] if whole else None,
                         ["-o", str(P6_START), "--sizelimit", str(P6_SIZE), str(img)]):
                if args is not None:
                    loops.append(subprocess.run(["losetup", "-f", "--show", *args],
                                                capture_output=True, text=True,
                                                check=True).stdout.strip())
            subprocess.run(["mount", "-t", "ext4", loops[-1], str(mnt)], capture_output=True,
                           check=True)
            mounted = True
        except (subprocess.CalledProcessError, OSError) as exc:
            pytest.skip(f"cannot attach loop devices or mount the ext4 of p6: {exc}")
        yield loops
    finally:
        if mounted:
            subprocess.run(["umount", str(mnt)], check=False)
        for loop in reversed(loops):
            subprocess.run(["losetup", "-d", loop], check=False)


@NEEDS_ROOT
def test_no_command_writes_onto_a_mounted_partition_of_an_input(fixture_images, tmp_path):
    """fixtures/mbr: p1 and p5 are PVs (made by lvm2), p6 an ext4 (made by mkfs.ext4). With
    p6 mounted from a loop device over a copy of the image, and the whole image on another
    loop device: cat -o (new and existing paths), cat to stdout and history --save onto
    that file system are refused (status 2) with the image or the whole-image loop device
    as input; nothing is created and the existing file keeps its bytes."""
    img = tmp_path / "disk.img"
    shutil.copyfile(fixture_images.images("mbr")[0], img)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with _mounted_p6(img, mnt, whole=True) as (whole, part):
        existing = mnt / "existing.bin"
        existing.write_bytes(b"examiner's notes\n")
        fresh = mnt / "fresh.out"
        fresh.write_bytes(b"")
        before = sorted(p.name for p in mnt.iterdir())
        runs = []
        for source in (whole, str(img)):
            runs += [
                (["cat", "vgmbr/lvp1", source, "-o", str(mnt / "new.bin")], None),
                (["cat", "vgmbr/lvp1", source, "-o", str(existing)], None),
                (["cat", "vgmbr/lvp1", source, "-o", str(mnt / "sub" / "new.bin")], None),
                (["cat", "vgmbr/lvp1", source], "ab"),  # >> existing.bin
                (["cat", "vgmbr/lvp1", source], "wb"),  # > fresh.out (the shell made it)
                (["history", source, "--save", str(mnt / "saved")], None),
                (["cat", "vgmbr/lvp1", source, "-o", part], None),
            ]
        for argv, mode in runs:
            if mode is None:
                cp = _run(argv)
            else:
                with open(existing if mode == "ab" else fresh, mode) as out:
                    cp = _run(argv, stdout=out)
            err = cp.stderr.decode(errors="replace")
            assert cp.returncode == 2, (argv, mode, err)
            assert NEVER in err and "Traceback" not in err, (argv, err)
            assert len(err.splitlines()) == 1, err
        assert sorted(p.name for p in mnt.iterdir()) == before
        assert existing.read_bytes() == b"examiner's notes\n"
        assert fresh.read_bytes() == b""
        cp = _run(["cat", "vgmbr/lvp1", str(img), "-o", str(mnt / "x")])
        assert cp.stderr.decode() == (
            f"lvmread: the output {mnt / 'x'} is on a file system of {part}, a loop device "
            f"over the input {img}; {NEVER}\n"
        )
        # the guard refuses only those: the same LV to a file elsewhere is lvm2's bytes
        ok = tmp_path / "lvp1.bin"
        cp = _run(["cat", "vgmbr/lvp1", whole, "-o", str(ok)])
        assert cp.returncode == 0, cp.stderr
        content = json.loads((ROOT / "fixtures" / "mbr" / "content.json").read_text())
        assert hashlib.sha256(ok.read_bytes()).hexdigest() == \
            content["lvs"]["vgmbr/lvp1"]["sha256"]


@NEEDS_ROOT
def test_loop_device_over_an_unlinked_name_of_the_input(fixture_images, tmp_path):
    """The loop device was attached by a name since removed (sysfs shows 'NAME (deleted)');
    the input is another hard link of the same file: the loop device is found by the
    backing file's st_dev/st_ino the kernel reports, and writing on its ext4 refused."""
    first = tmp_path / "first.img"
    shutil.copyfile(fixture_images.images("mbr")[0], first)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    img = tmp_path / "evidence.img"
    with _mounted_p6(first, mnt, whole=False) as (part,):
        os.link(first, img)
        first.unlink()
        name = Path(part).name
        assert Path(f"/sys/block/{name}/loop/backing_file").read_text().rstrip("\n") == \
            f"{first} (deleted)"
        cp = _run(["cat", "vgmbr/lvp1", str(img), "-o", str(mnt / "new.bin")])
        assert cp.returncode == 2, cp.stderr
        assert cp.stderr.decode() == (
            f"lvmread: the output {mnt / 'new.bin'} is on a file system of {part}, a loop "
            f"device over the input {img}; {NEVER}\n"
        )
        assert sorted(p.name for p in mnt.iterdir()) == ["lost+found"]
