"""The activator: LV segments become the device-mapper tables lvm2 itself would load.

:func:`plan` gives, for one LV, every mapped device it needs in the order to create
them (sub-LVs and fillers for missing PVs first, the LV itself last). Each segment's
table line comes from its type's handler (:mod:`lvmread.segtypes`), which refuses the
types that cannot be mapped yet. Devices are named by a caller-supplied function, so the
same tables name image files (userspace reading) or ``major:minor`` (a kernel).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

from ..errors import ActivationError, MissingPVError, summarise
from ..limits import SECTOR_SIZE
from ..model.volumes import LogicalVolume, PhysicalVolume, Segment, VolumeGroup
from ..segtypes import handler, lv_refusal

if TYPE_CHECKING:
    from ..dm import DeviceMapper

DeviceToken = Callable[[PhysicalVolume], str]
MAX_DEPTH = 16
"""How deep LVs may stack on sub-LVs (the device mapper's own bound, lvmread.dm.MAX_STACK_DEPTH)."""


def readable_sectors(pv: PhysicalVolume) -> int:
    """How many sectors of ``pv``'s device its input really holds (less than the device's
    size when a partition reaches past the end of a truncated image)."""
    src = pv.device.source  # type: ignore[union-attr]
    return max(0, min(src.size, src.file.size - src.start)) // SECTOR_SIZE


def dm_name(vg: str, lv: str, layer: Optional[str] = None) -> str:
    """lvm2's device-mapper name: ``vg-lv[-layer]`` with every ``-`` in a part doubled."""
    parts = [vg.replace("-", "--"), lv.replace("-", "--")]
    if layer:
        parts.append(layer)
    return "-".join(parts)


#: a token a table line writes as it is (lvmread.dm.escape_arg leaves it unchanged)
_PLAIN_TOKEN = re.compile(r"[\x21\x22\x24-\x5b\x5d-\x7e]+\Z")
#: a bare name a table would read as a device number, or as a mapped device (``vg-lv``)
_NOT_A_PATH = re.compile(r"[0-9]+:[0-9]+\Z|[A-Za-z0-9+_.-]*-[A-Za-z0-9+_.-]*\Z")


def line_token(token: str) -> str:
    """A device token as a table line writes it (:func:`lvmread.dm.escape_arg`: ``\\``
    before a space, tab or backslash, ``\\xHH`` for ``#`` and unprintable characters)."""
    if _PLAIN_TOKEN.match(token):  # the usual case, without importing the device mapper
        return token
    from ..dm.table import escape_arg

    return escape_arg(token)


def image_token(pv: PhysicalVolume) -> str:
    """Name a PV by its input: tables for userspace reading.

    The input's name (``disk.img``, ``disk.img@p2``: :func:`lvmread.inputs.source.input_name`,
    unique per input), written ``./7:0`` or ``./vg0-lv0`` where the bare name would be read
    as a device number or could be the name of a mapped device.
    """
    if pv.device is None:
        raise MissingPVError(f"PV {pv.uuid} is missing")
    name = pv.device.source.name
    return "./" + name if _NOT_A_PATH.match(name) else name


def devno_token(pv: PhysicalVolume) -> str:
    """Name a PV by ``major:minor`` of its block device (or of the loop device on its image):
    tables for a real kernel."""
    if pv.device is None:
        raise MissingPVError(f"PV {pv.uuid} is missing")
    from ..inputs.blockdev import devno

    src = pv.device.source
    return devno(src.path, src.start, src.size)


@dataclass
class DeviceTable:
    """One mapped device to create: its dm name and its table lines."""

    name: str
    lines: list[str] = field(default_factory=list)
    lv: Optional[LogicalVolume] = None
    """The LV this device maps (None for a filler such as ``-missing_0_0``)."""

    @property
    def text(self) -> str:
        """The table as ``dmsetup table`` prints it."""
        return "".join(line + "\n" for line in self.lines)


@dataclass
class Context:
    """What segment mappers need: the VG, how to name devices, and the plan so far."""

    vg: VolumeGroup
    token: DeviceToken
    partial: bool
    reading: bool = False
    """Tables to read through (not to print): an area past the end of its input is refused
    or, with ``partial``, given a filler, since the device mapper would refuse it."""
    devices: dict[str, DeviceTable] = field(default_factory=dict)
    depth: int = 0
    seg_nos: dict[int, int] = field(default_factory=dict, repr=False)
    """id(segment) -> its position in its LV (see _seg_no)."""

    @property
    def extent(self) -> int:
        return self.vg.extent_size

    def pv_area(self, seg: Segment, area_index: int) -> tuple[str, int]:
        """(device token as a table line writes it, offset in sectors) of a segment area.

        As lvm2's partial activation does, a missing PV becomes an ``error`` filler
        device (``vg-lv-missing_N_M``); so, when reading, does an area that reaches past
        the end of its input (a truncated image): the filler maps what is there and
        gives I/O errors for the rest.
        """
        area = seg.areas[area_index]
        if area.pv is not None:
            pv = area.pv
            sectors = seg.area_len * self.extent
            if pv.missing:
                if not self.partial:
                    raise MissingPVError(
                        f"LV {seg.lv.vg.name}/{seg.lv.name} segment {seg.index} uses missing "
                        f"PV {pv.uuid}; read it with --partial (missing ranges give I/O errors)"
                    )
                return line_token(self._filler(seg, area_index, sectors)), 0
            offset = pv.pe_start + area.start * self.extent
            present = readable_sectors(pv) - offset
            if present >= sectors or not (self.partial or self.reading):
                return line_token(self.token(pv)), offset  # (a table names what lvm2 would load)
            if not self.partial:
                src = pv.device.source  # type: ignore[union-attr]
                raise MissingPVError(
                    f"LV {seg.lv.vg.name}/{seg.lv.name} segment {seg.index} reaches past the "
                    f"end of {src.name} ({readable_sectors(pv) * SECTOR_SIZE} bytes there; a "
                    "truncated image?); read it with --partial (the missing ranges give I/O "
                    "errors)"
                )
            token = line_token(self.token(pv))
            return line_token(self._filler(seg, area_index, sectors, token, offset, present)), 0
        if area.lv is not None:
            return line_token(self.sub_lv(area.lv)), area.start * self.extent
        raise ActivationError(f"segment {seg.index} of {seg.lv.name}: area {area.name} unresolved")

    def _filler(
        self,
        seg: Segment,
        area_index: int,
        sectors: int,
        token: str = "",
        offset: int = 0,
        present: int = 0,
    ) -> str:
        """Plan the ``-missing_N_M`` device of an area: ``error`` but for its first
        ``present`` sectors, which map to ``token`` (as a line writes it) from ``offset``."""
        seg_no = self._seg_no(seg)
        name = dm_name(seg.lv.vg.name, seg.lv.name, f"missing_{seg_no}_{area_index}")
        if present > 0:
            lines = [f"0 {present} linear {token} {offset}", f"{present} {sectors - present} error"]
        else:
            lines = [f"0 {sectors} error"]
        self.devices.setdefault(name, DeviceTable(name, lines))
        return name

    def _seg_no(self, seg: Segment) -> int:
        """The position of ``seg`` in its LV (from one pass over the LV's segments, not a
        search per filler: an LV of 20,000 segments on a missing PV took 100 s)."""
        got = self.seg_nos.get(id(seg))
        if got is None:
            self.seg_nos.update((id(s), i) for i, s in enumerate(seg.lv.segments))
            got = self.seg_nos[id(seg)]
        return got

    def sub_lv(self, lv: LogicalVolume) -> str:
        """Plan the device of a sub-LV (once) and return its name."""
        name = dm_name(lv.vg.name, lv.name)
        if name not in self.devices:
            if self.depth >= MAX_DEPTH:
                raise ActivationError(
                    f"LV {lv.vg.name}/{lv.name}: sub-LVs nest more than {MAX_DEPTH} deep"
                )
            self.depth += 1
            lines = _lv_lines(lv, self)
            self.depth -= 1
            self.devices[name] = DeviceTable(name, lines, lv)
        return name


def _lv_lines(lv: LogicalVolume, ctx: Context) -> list[str]:
    if not lv.segments:
        raise ActivationError(f"LV {lv.vg.name}/{lv.name} has no segments")
    if lv.problems:
        raise ActivationError(f"LV {lv.vg.name}/{lv.name} cannot be mapped: {lv.problems[0]}")
    refusal = lv_refusal(lv)  # e.g. a snapshot's origin or COW store
    if refusal is not None:
        raise ActivationError(refusal)
    size = ctx.extent
    return [
        handler(seg.type).table_line(seg, ctx, seg.start_extent * size, seg.extent_count * size)
        for seg in lv.segments
    ]


def plan(
    lv: LogicalVolume,
    token: DeviceToken = image_token,
    partial: bool = False,
    reading: bool = False,
) -> list[DeviceTable]:
    """Every mapped device ``lv`` needs, in creation order, the LV's own device last.

    With ``reading``, the tables are to be read through: areas past the end of a
    truncated input are refused (or, with ``partial``, mapped as missing).
    """
    ctx = Context(vg=lv.vg, token=token, partial=partial, reading=reading)
    ctx.sub_lv(lv)
    return list(ctx.devices.values())


def table(lv: LogicalVolume, token: DeviceToken = image_token, partial: bool = False) -> str:
    """The table of ``lv``'s own device, as ``dmsetup table`` prints it."""
    return plan(lv, token, partial)[-1].text


def reading_token(pv: PhysicalVolume) -> str:
    """Name a PV as the activator's own device mapper knows it (tables to read through):
    ``PV/pvN``, unique in the VG's namespace whatever the input's path, and never a mapped
    device's name (those hold no ``/``)."""
    if pv.device is None:
        raise MissingPVError(f"PV {pv.uuid} is missing")
    return f"PV/{pv.key}"


class Activator:
    """Maps LVs onto userspace device mappers (:class:`~lvmread.dm.DeviceMapper`) and opens
    them for reading.

    Each VG has a device mapper of its own, so two VGs of one name (two VG uuids) never
    share a device name: an LV is read only from its own VG's devices. Userspace reading
    is not bound by the kernel's 127-byte device-name limit (a VG and an LV name lvm2
    accepts can make a longer dm name); only kernel activation is.
    """

    def __init__(self) -> None:
        self._dms: dict[int, tuple[VolumeGroup, DeviceMapper]] = {}
        """id(VG) -> (the VG, its DeviceMapper): one namespace per VG."""

    def dm_of(self, vg: VolumeGroup) -> DeviceMapper:
        """The device mapper of ``vg`` (made on first use), with its PVs registered."""
        entry = self._dms.get(id(vg))
        if entry is None:
            from ..dm import DeviceMapper, FileDevice

            dm = DeviceMapper(host_devices=False, max_name_bytes=None)
            try:
                for pv in vg.pvs.values():
                    if pv.device is None:
                        continue
                    src = pv.device.source
                    # a partition of a truncated image reaches past its end: register what
                    # is there (the plan maps what lies past it as missing)
                    size = readable_sectors(pv) * SECTOR_SIZE
                    dev = FileDevice(src.path, start=src.start, size=size, name=src.name)
                    dm.add_device(reading_token(pv), dev)
            except BaseException:
                dm.close()
                raise
            entry = self._dms[id(vg)] = (vg, dm)
        return entry[1]

    def open(self, lv: LogicalVolume, partial: bool = False):
        """The LV as a read-only binary file object (a :class:`~lvmread.dm.MappedDevice`)."""
        from ..dm import DMError

        if lv.partial and not partial:
            missing = ", ".join(summarise([pv.uuid for pv in lv.vg.missing_pvs], "{n} more", 3))
            raise MissingPVError(
                f"LV {lv.vg.name}/{lv.name} has extents on missing PV(s) {missing}; "
                "use --partial to read it with those ranges as I/O errors"
            )
        steps = plan(lv, reading_token, partial, reading=True)
        try:
            dm = self.dm_of(lv.vg)
            for dev in steps:
                if dev.name not in dm:
                    dm.create(dev.name, dev.text)
        except DMError as exc:
            raise ActivationError(f"LV {lv.vg.name}/{lv.name}: {exc}") from None
        # a new file object each time: closing one does not close the mapped device
        return dm.get(steps[-1].name).reopen()

    def table(self, lv: LogicalVolume, partial: bool = False, devno: bool = False) -> str:
        """The LV's own table, naming PVs by their inputs, or by ``major:minor`` with ``devno``."""
        return table(lv, devno_token if devno else image_token, partial)

    def close(self) -> None:
        entries = list(self._dms.values())
        self._dms.clear()
        for _vg, dm in entries:
            dm.close()
