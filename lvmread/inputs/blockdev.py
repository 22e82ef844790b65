"""Naming inputs as the kernel knows them: ``major:minor`` of the block device behind a Source.

A table meant for a real kernel names its devices by device number. A block-device input
(or a partition of one) has one; an image file has one only while a loop device is attached
to it, which is found through ``/sys/block/loop*/loop/backing_file``.

Where bytes live: :class:`StorageGraph` links block devices and files as sysfs shows them
(partitions, loop devices, stacked devices), so that an output is never put on an input.
"""

from __future__ import annotations

import glob
import os
import re
import stat
import sys
from collections import deque
from typing import Iterator, Optional

from ..errors import ActivationError
from ..limits import SECTOR_SIZE

_join = os.path.join


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def _children(sysdir: str) -> list[str]:
    try:
        return sorted(_join(sysdir, c) for c in os.listdir(sysdir))
    except OSError:
        return []


def _partition_devno(sysdir: str, start: int) -> str:
    """The ``dev`` of the partition of the disk at ``sysdir`` that starts at byte ``start``."""
    for child in _children(sysdir):
        if os.path.exists(_join(child, "partition")) and _read(_join(child, "start")) == str(
            start // SECTOR_SIZE
        ):
            return _read(_join(child, "dev"))
    return ""


def devno(path: str, start: int, size: int, sysfs: str = "/sys") -> str:
    """``major:minor`` of the block device holding bytes ``[start, start+size)`` of ``path``.

    Raises :class:`ActivationError` when there is none (an image no loop device shows).
    """
    st = os.stat(path)
    if stat.S_ISBLK(st.st_mode):
        mm = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
        if start == 0:
            return mm
        found = _partition_devno(_join(sysfs, "dev/block", mm), start)
        if found:
            return found
        raise ActivationError(f"{path}: no partition of this device starts at byte {start}")
    graph, image = StorageGraph(sysfs), file_node(st)
    for loop in sorted(glob.glob(_join(glob.escape(sysfs), "block/loop*"))):
        if graph.backing(loop, _read(_join(loop, "dev"))) != image:  # by inode, not by path
            continue
        info = _join(loop, "loop")
        offset = int(_read(_join(info, "offset")) or 0)
        limit = int(_read(_join(info, "sizelimit")) or 0)
        if offset == start and limit in (0, size):
            return _read(_join(loop, "dev"))
        if offset == 0 and start > 0:
            found = _partition_devno(loop, start)
            if found:
                return found
    region = f" -o {start} --sizelimit {size}" if start else ""
    raise ActivationError(
        f"{path}: no block device shows bytes {start}-{start + size - 1} of this image; "
        f"attach it first (losetup -r -f --show{region} {path})"
    )


#: how many devices and files one storage closure may visit (sysfs loops are not expected)
_MAX_BLOCK_DEVICES = 4096

#: a node of the storage graph: ``("blk", "M:m")`` or ``("file", st_dev, st_ino)``
Node = tuple
#: an edge from a node: (the neighbour, "the neighbour is REL the node", "the node is REL the
#: neighbour")
Edge = tuple[Node, str, str]

_LOOP_GET_STATUS64 = 0x4C05
_DELETED = " (deleted)"


def file_node(st: os.stat_result) -> Node:
    """The node of the file or block device with status ``st``."""
    if stat.S_ISBLK(st.st_mode):
        return ("blk", f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}")
    return ("file", st.st_dev, st.st_ino)


def _kernel_dev(dev: int) -> int:
    """A device number as the kernel's ``new_encode_dev`` has it, as ``st_dev`` has it."""
    return os.makedev((dev & 0xFFF00) >> 8, (dev & 0xFF) | ((dev >> 12) & 0xFFF00))


class StorageGraph:
    """What block devices and files share bytes, as sysfs tells (read lazily, once).

    Edges *down* go to what a device is built from: a partition's disk, a disk's
    partitions, the devices under a stacked (dm, md) device (``slaves``), the file or device
    behind a loop device, and (for outputs) the device of the file system a file is on.
    Edges *up* go to what is built on a node: the devices stacked on it (``holders``) and
    the loop devices over it (a file's loop devices are matched by st_dev/st_ino, not by
    the path sysfs shows).
    """

    def __init__(self, sysfs: str = "/sys", mountinfo: str = "/proc/self/mountinfo") -> None:
        self.sysfs = sysfs
        self.mountinfo = mountinfo
        self.names: dict[Node, str] = {}
        self._loops: Optional[dict[Node, list[str]]] = None
        self._mounts: Optional[dict[str, str]] = None

    # ------------------------------------------------------------- sysfs

    def _sysdir(self, mm: str) -> str:
        real = os.path.realpath(_join(self.sysfs, "dev/block", mm))
        return real if os.path.isdir(real) else ""

    def _devs(self, folder: str) -> list[str]:
        """The ``dev`` of each device a ``slaves``/``holders`` folder links to."""
        return [_read(_join(os.path.realpath(c), "dev")) for c in _children(folder)]

    def name(self, node: Node) -> str:
        """How a message names ``node``: a path given for it, else /dev/NAME from sysfs."""
        if node in self.names:
            return self.names[node]
        if node[0] == "blk":
            sysdir = self._sysdir(node[1])
            for line in _read(_join(sysdir, "uevent")).splitlines() if sysdir else ():
                if line.startswith("DEVNAME="):
                    return "/dev/" + line[len("DEVNAME="):]
            return f"/dev/{os.path.basename(sysdir)}" if sysdir else f"device {node[1]}"
        return f"the file with inode {node[2]} on device {os.major(node[1])}:{os.minor(node[1])}"

    def backing(self, loop: str, mm: str) -> Optional[Node]:
        """The node of the file or device behind the loop device at sysfs ``loop``."""
        path = _read(_join(loop, "loop", "backing_file"))
        if not path:
            return None
        if path.endswith(_DELETED):  # unlinked: its path names nothing (or another file)
            return self._loop_status(loop, mm)
        try:
            node = file_node(os.stat(path))
        except OSError:
            return self._loop_status(loop, mm)
        self.names.setdefault(node, path)
        return node

    def _loop_status(self, loop: str, mm: str) -> Optional[Node]:
        """The backing file's st_dev/st_ino from the loop device itself (LOOP_GET_STATUS64),
        through its /dev node; None without one."""
        import fcntl

        for line in _read(_join(loop, "uevent")).splitlines():
            if not line.startswith("DEVNAME="):
                continue
            try:
                fd = os.open("/dev/" + line[len("DEVNAME="):], os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return None
            try:
                st = os.fstat(fd)
                if not stat.S_ISBLK(st.st_mode) or f"{os.major(st.st_rdev)}:" \
                        f"{os.minor(st.st_rdev)}" != mm:
                    return None
                info = fcntl.ioctl(fd, _LOOP_GET_STATUS64, bytes(232))
            except OSError:
                return None
            finally:
                os.close(fd)
            device = int.from_bytes(info[0:8], sys.byteorder)  # struct loop_info64
            return ("file", _kernel_dev(device), int.from_bytes(info[8:16], sys.byteorder))
        return None

    def loops_over(self, node: Node) -> list[str]:
        """The loop devices whose backing file or device is ``node``."""
        if self._loops is None:
            self._loops = {}
            pattern = _join(glob.escape(self.sysfs), "block/loop*")
            for loop in sorted(glob.glob(pattern))[:_MAX_BLOCK_DEVICES]:
                mm = _read(_join(loop, "dev"))
                backing = self.backing(loop, mm) if mm else None
                if backing is not None:
                    self._loops.setdefault(backing, []).append(mm)
        return self._loops.get(node, [])

    def fs_devices(self, dev: int) -> list[Node]:
        """The block devices a file system with ``st_dev`` ``dev`` is on: that device, and
        for a file system with an anonymous device number (btrfs, ...) the source
        /proc/self/mountinfo gives for it."""
        mm = f"{os.major(dev)}:{os.minor(dev)}"
        nodes: list[Node] = [("blk", mm)]
        if os.major(dev) != 0:
            return nodes
        if self._mounts is None:
            self._mounts = {}
            try:
                with open(self.mountinfo, encoding="utf-8", errors="replace") as f:
                    for line in f:
                        fields = line.split()
                        after = line.split(" - ", 1)[1].split() if " - " in line else []
                        if len(fields) > 3 and len(after) > 1:
                            self._mounts.setdefault(fields[2], after[1])
            except OSError:
                pass
        source = self._mounts.get(mm, "")
        if source.startswith("/"):
            path = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), source)
            try:
                st = os.stat(path)
            except OSError:
                return nodes
            if stat.S_ISBLK(st.st_mode):
                nodes.append(file_node(st))
                self.names.setdefault(nodes[-1], path)
        return nodes

    # ------------------------------------------------------------- edges

    def edges(self, node: Node, up: bool, files_down: bool = False) -> Iterator[Edge]:
        """The neighbours of ``node``: down always, up with ``up``; with ``files_down``
        also a file's file system device."""
        if node[0] == "file":
            if files_down:
                for fs in self.fs_devices(node[1]):
                    yield fs, "the device of the file system holding", "a file on"
            if up:
                for mm in self.loops_over(node):
                    yield ("blk", mm), "a loop device over", "the backing file of"
            return
        sysdir = self._sysdir(node[1])
        if not sysdir:
            return  # no sysfs (or not this device): the device alone
        if os.path.exists(_join(sysdir, "partition")):
            disk = _read(_join(os.path.dirname(sysdir), "dev"))
            if disk:
                yield ("blk", disk), "the disk of", "a partition of"
        for child in _children(sysdir):
            if os.path.exists(_join(child, "partition")):
                yield ("blk", _read(_join(child, "dev"))), "a partition of", "the disk of"
        if os.path.isdir(_join(sysdir, "loop")):
            backing = self.backing(sysdir, node[1])
            if backing is not None:
                what = "file" if backing[0] == "file" else "device"
                yield backing, f"the backing {what} of", "a loop device over"
        for mm in self._devs(_join(sysdir, "slaves")):
            yield ("blk", mm), "a device under", "a device stacked on"
        if up:
            for mm in self._devs(_join(sysdir, "holders")):
                yield ("blk", mm), "a device stacked on", "a device under"
            for mm in self.loops_over(node):
                yield ("blk", mm), "a loop device over", "the backing device of"

    def closure(self, roots: list[Node], up: bool, files_down: bool = False) -> dict:
        """Every node reachable from ``roots``, each with how it was reached: ``{node:
        (previous node, "node is REL previous", "previous is REL node")}`` (None for a
        root). At most :data:`_MAX_BLOCK_DEVICES` nodes."""
        seen: dict[Node, Optional[tuple]] = {r: None for r in roots}
        todo = deque(roots)
        while todo and len(seen) < _MAX_BLOCK_DEVICES:
            node = todo.popleft()
            for nxt, rel, inv in self.edges(node, up, files_down):
                if nxt[0] == "blk" and not nxt[1]:
                    continue
                if nxt not in seen:
                    seen[nxt] = (node, rel, inv)
                    todo.append(nxt)
        return seen


def block_storage(devno_: str, sysfs: str = "/sys") -> set[tuple]:
    """Where the block device ``MAJOR:MINOR`` keeps its bytes, as sysfs tells: the device,
    the disk it is a partition of and that disk's other partitions (one disk), the file
    behind a loop device, and the devices under a device-mapper, md or other stacked
    device (``slaves``), each of those in turn.  Members are ``("blk", "M:m")`` and
    ``("file", st_dev, st_ino)``."""
    return set(StorageGraph(sysfs).closure([("blk", devno_)], up=False))


def storage(st: os.stat_result, sysfs: str = "/sys", *, as_output: bool = False) -> set[tuple]:
    """Where the file or device with status ``st`` keeps its bytes (see
    :func:`block_storage`). For an output file, also the block device of its file system
    and what that is built from: a file written on a file system of an input disk changes
    that disk."""
    return set(StorageGraph(sysfs).closure([file_node(st)], up=False, files_down=as_output))
