"""The model: volume groups, physical volumes, logical volumes and their segments.

Built from the dicts :func:`lvmread.metadata.parse_metadata` returns. Sizes kept from the
metadata are in 512-byte sectors or extents as lvm2 stores them; properties ending in
``_bytes`` give bytes. Unknown keys and segment types are kept, never rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from .errors import MetadataError

if TYPE_CHECKING:
    from .pv import PVDevice

SECTOR = 512
_RMETA = re.compile(r"_rmeta_\d+$")

# Keys whose values name other LVs, by segment type (lvm2's lib/*/*.c text import).
LV_REFERENCE_KEYS = (
    "mirror_log",
    "metadata",
    "pool",
    "thin_pool",
    "origin",
    "external_origin",
    "cow_store",
    "merging_store",
    "cache_pool",
    "data",
    "writecache",
    "meta_dev",
    "vdo_pool",
    "integrity_meta",
)
# Array keys that hold the areas of a segment.
AREA_KEYS = ("stripes", "mirrors", "raids", "raid0_lvs")


def _int(d: dict, key: str, where: str, default: Optional[int] = None) -> int:
    v = d.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool):
        if v is None:
            raise MetadataError(f"{where}: missing {key}")
        raise MetadataError(f"{where}: {key} = {v!r} is not an integer")
    return v


def _strings(d: dict, key: str) -> list[str]:
    v = d.get(key, [])
    return [x for x in v if isinstance(x, str)] if isinstance(v, list) else []


@dataclass
class PhysicalVolume:
    """A PV as the VG metadata describes it, joined to its device when an input holds it."""

    key: str
    """The name of its section in the metadata (``pv0``)."""
    uuid: str
    device_hint: str
    status: list[str]
    flags: list[str]
    tags: list[str]
    dev_size: int
    """Device size in sectors, as the metadata records it."""
    pe_start: int
    """Start of the first extent, in sectors."""
    pe_count: int
    ba_start: int = 0
    ba_size: int = 0
    raw: dict = field(default_factory=dict, repr=False)
    device: Optional[PVDevice] = field(default=None, repr=False)

    @property
    def missing(self) -> bool:
        return self.device is None

    @property
    def name(self) -> str:
        """The input that holds this PV, or ``[unknown]`` as lvm2 says of a missing one."""
        return self.device.name if self.device is not None else "[unknown]"

    @property
    def pe_start_bytes(self) -> int:
        return self.pe_start * SECTOR


@dataclass
class SegmentArea:
    """One area of a segment: a range of a PV (``pvN``, extent) or of a sub-LV (name, extent)."""

    pv: Optional[PhysicalVolume]
    lv: Optional[LogicalVolume]
    start: int
    """First extent of the area on the PV or the LV."""
    name: str
    """The name the metadata uses (``pv0`` or the LV name)."""

    @property
    def is_pv(self) -> bool:
        return self.pv is not None


@dataclass
class Segment:
    """One segment of an LV with every key its metadata section holds."""

    lv: LogicalVolume = field(repr=False)
    index: int
    start_extent: int
    extent_count: int
    type: str
    areas: list[SegmentArea]
    stripe_size: int = 0
    """Stripe (chunk) size in sectors, 0 where the type has none."""
    raw: dict = field(default_factory=dict, repr=False)

    KNOWN_TYPES = frozenset(
        {
            "striped", "linear", "mirror", "snapshot", "zero", "error", "free", "thin",
            "thin-pool", "cache", "cache-pool", "writecache", "integrity", "vdo", "vdo-pool",
            "raid0", "raid0_meta", "raid1", "raid10", "raid10_near", "raid4", "raid5",
            "raid5_la", "raid5_ls", "raid5_ra", "raid5_rs", "raid5_n", "raid6", "raid6_zr",
            "raid6_nr", "raid6_nc", "raid6_ls_6", "raid6_rs_6", "raid6_la_6", "raid6_ra_6",
            "raid6_n_6",
        }
    )  # fmt: skip

    @property
    def known(self) -> bool:
        return self.type in self.KNOWN_TYPES

    @property
    def stripes(self) -> int:
        """lvm2's ``stripes`` report field: the number of areas."""
        return len(self.areas)

    @property
    def area_len(self) -> int:
        """Extents each area holds (lvm2's ``area_len``)."""
        if self.type == "striped" and self.areas:
            return self.extent_count // len(self.areas)
        if self.type.startswith("raid") and self.areas:
            data = self.data_copies_divisor()
            return self.extent_count // data if data else self.extent_count
        return self.extent_count

    @property
    def data_areas(self) -> list[SegmentArea]:
        """The areas that hold data (a raid segment's areas without its ``_rmeta_`` LVs)."""
        return [a for a in self.areas if not _RMETA.search(a.name)]

    def data_copies_divisor(self) -> int:
        """How many areas the LV's extents are spread over (raid stripes)."""
        n = len(self.data_areas)
        t = self.type
        if t in ("raid1",):
            return 1
        if t.startswith("raid10"):
            return max(1, n // 2)
        if t.startswith("raid4") or t.startswith("raid5"):
            return max(1, n - 1)
        if t.startswith("raid6"):
            return max(1, n - 2)
        return max(1, n)

    def references(self) -> list[str]:
        """Names of the LVs this segment uses (areas and keys such as ``origin``)."""
        names = [a.name for a in self.areas if a.lv is not None]
        for key in LV_REFERENCE_KEYS:
            v = self.raw.get(key)
            if isinstance(v, str) and v:
                names.append(v)
        return names


@dataclass
class LogicalVolume:
    """An LV: its sections' keys, its segments in order."""

    vg: VolumeGroup = field(repr=False)
    name: str
    uuid: str
    status: list[str]
    flags: list[str]
    tags: list[str]
    creation_time: Optional[int]
    creation_host: Optional[str]
    segments: list[Segment] = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False)
    problems: list[str] = field(default_factory=list)
    """Faults that make the LV unusable (see :mod:`lvmread.validate`)."""

    @property
    def visible(self) -> bool:
        return "VISIBLE" in self.status

    @property
    def display_name(self) -> str:
        """The name as ``lvs -a`` shows it: hidden LVs in brackets."""
        return self.name if self.visible else f"[{self.name}]"

    @property
    def extent_count(self) -> int:
        return sum(s.extent_count for s in self.segments)

    @property
    def size(self) -> int:
        """Size in bytes."""
        return self.extent_count * self.vg.extent_size * SECTOR

    @property
    def partial(self) -> bool:
        """True when any extent lies on a missing PV (directly or through a sub-LV)."""
        return self.vg.lv_is_partial(self)

    @property
    def segment_types(self) -> list[str]:
        return [s.type for s in self.segments]

    def open(self, partial: bool = False):
        """The LV's bytes as a read-only binary file object (``io.RawIOBase``).

        With ``partial``, ranges on missing PVs are mapped and raise I/O errors when read.
        """
        return self.vg.activator_for(self).open(self, partial=partial)

    def table(self, partial: bool = False, devno: bool = False) -> str:
        """The device-mapper table lvm2 would load for this LV (``dmsetup table`` format).

        Devices are named by their inputs, or with ``devno`` by ``major:minor`` as a kernel
        needs them (block devices, or images with a loop device attached).
        """
        return self.vg.activator_for(self).table(self, partial=partial, devno=devno)


@dataclass
class VolumeGroup:
    """A VG: the metadata of one seqno and the PVs and LVs it describes."""

    name: str
    uuid: str
    seqno: int
    extent_size: int
    """Extent size in sectors."""
    status: list[str]
    flags: list[str]
    tags: list[str]
    format: str
    pvs: dict[str, PhysicalVolume] = field(default_factory=dict)
    lvs: dict[str, LogicalVolume] = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False)
    header: dict = field(default_factory=dict, repr=False)
    """The keys outside the VG section: contents, version, description, creation_*."""
    sources: list[Any] = field(default_factory=list, repr=False)
    """The metadata copies this VG was read from."""
    activator: Any = field(default=None, repr=False)
    """What maps this VG's LVs onto devices; set by whoever opened the disks."""

    def activator_for(self, lv: LogicalVolume) -> Any:
        if self.activator is None:
            from .errors import UsageError

            raise UsageError(f"LV {self.name}/{lv.name}: this VG was not opened from disks")
        return self.activator

    @property
    def extent_size_bytes(self) -> int:
        return self.extent_size * SECTOR

    @property
    def description(self) -> str:
        return str(self.header.get("description", ""))

    @property
    def creation_time(self) -> Optional[int]:
        v = self.header.get("creation_time")
        return v if isinstance(v, int) else None

    @property
    def creation_host(self) -> Optional[str]:
        v = self.header.get("creation_host")
        return v if isinstance(v, str) else None

    @property
    def missing_pvs(self) -> list[PhysicalVolume]:
        return [pv for pv in self.pvs.values() if pv.missing]

    def pv_by_uuid(self, uuid: str) -> Optional[PhysicalVolume]:
        u = uuid.replace("-", "")
        for pv in self.pvs.values():
            if pv.uuid.replace("-", "") == u:
                return pv
        return None

    def lv(self, name_or_uuid: str) -> LogicalVolume:
        """The LV with this name or uuid (dashes optional)."""
        if name_or_uuid in self.lvs:
            return self.lvs[name_or_uuid]
        u = name_or_uuid.replace("-", "")
        for lv in self.lvs.values():
            if lv.uuid.replace("-", "") == u:
                return lv
        from .errors import UsageError

        raise UsageError(f"volume group {self.name} has no logical volume {name_or_uuid}")

    def lv_is_partial(self, lv: LogicalVolume, _depth: int = 0) -> bool:
        if _depth > 64:
            return False
        for seg in lv.segments:
            for area in seg.areas:
                if area.pv is not None and area.pv.missing:
                    return True
                if area.lv is not None and self.lv_is_partial(area.lv, _depth + 1):
                    return True
            for ref in seg.references():
                sub = self.lvs.get(ref)
                if sub is not None and sub is not lv and ref not in [a.name for a in seg.areas]:
                    if seg.type in ("snapshot",) and ref == seg.raw.get("origin"):
                        continue
                    if self.lv_is_partial(sub, _depth + 1):
                        return True
        return False


def _areas(seg: dict, vg: VolumeGroup, where: str) -> list[tuple[str, int]]:
    """The (name, start) pairs of a segment's area arrays."""
    out: list[tuple[str, int]] = []
    for key in AREA_KEYS:
        arr = seg.get(key)
        if arr is None:
            continue
        if not isinstance(arr, list):
            raise MetadataError(f"{where}: {key} is not an array")
        if key in ("raids", "raid0_lvs"):
            for name in arr:
                if not isinstance(name, str):
                    raise MetadataError(f"{where}: {key} holds {name!r}, not an LV name")
                out.append((name, 0))
            continue
        if len(arr) % 2:
            raise MetadataError(f"{where}: {key} has an odd number of entries")
        for i in range(0, len(arr), 2):
            name, start = arr[i], arr[i + 1]
            if not isinstance(name, str) or not isinstance(start, int):
                raise MetadataError(f"{where}: {key} entry {i // 2} is not a name and an extent")
            out.append((name, start))
    return out


def build_vg(tree: dict, source: str = "metadata") -> VolumeGroup:
    """Build a :class:`VolumeGroup` from parsed metadata (one VG section plus header keys)."""
    sections = [(k, v) for k, v in tree.items() if isinstance(v, dict)]
    if len(sections) != 1:
        names = ", ".join(k for k, _ in sections) or "none"
        raise MetadataError(f"{source}: expected one volume group section, found {names}")
    name, d = sections[0]
    header = {k: v for k, v in tree.items() if not isinstance(v, dict)}
    where = f"{source}: {name}"
    vg = VolumeGroup(
        name=name,
        uuid=str(d.get("id", "")),
        seqno=_int(d, "seqno", where),
        extent_size=_int(d, "extent_size", where),
        status=_strings(d, "status"),
        flags=_strings(d, "flags"),
        tags=_strings(d, "tags"),
        format=str(d.get("format", "lvm2")),
        raw=d,
        header=header,
    )
    if vg.extent_size <= 0:
        raise MetadataError(f"{where}: extent_size {vg.extent_size} is not positive")
    pvs = d.get("physical_volumes", {})
    if not isinstance(pvs, dict):
        raise MetadataError(f"{where}: physical_volumes is not a section")
    for key, p in pvs.items():
        if not isinstance(p, dict):
            raise MetadataError(f"{where}: physical_volumes.{key} is not a section")
        w = f"{where}: physical_volumes/{key}"
        vg.pvs[key] = PhysicalVolume(
            key=key,
            uuid=str(p.get("id", "")),
            device_hint=str(p.get("device", "")),
            status=_strings(p, "status"),
            flags=_strings(p, "flags"),
            tags=_strings(p, "tags"),
            dev_size=_int(p, "dev_size", w, 0),
            pe_start=_int(p, "pe_start", w),
            pe_count=_int(p, "pe_count", w),
            ba_start=_int(p, "ba_start", w, 0),
            ba_size=_int(p, "ba_size", w, 0),
            raw=p,
        )
    lvs = d.get("logical_volumes", {})
    if not isinstance(lvs, dict):
        raise MetadataError(f"{where}: logical_volumes is not a section")
    for key, lvd in lvs.items():
        if not isinstance(lvd, dict):
            raise MetadataError(f"{where}: logical_volumes.{key} is not a section")
        ct = lvd.get("creation_time")
        ch = lvd.get("creation_host")
        vg.lvs[key] = LogicalVolume(
            vg=vg,
            name=key,
            uuid=str(lvd.get("id", "")),
            status=_strings(lvd, "status"),
            flags=_strings(lvd, "flags"),
            tags=_strings(lvd, "tags"),
            creation_time=ct if isinstance(ct, int) else None,
            creation_host=ch if isinstance(ch, str) else None,
            raw=lvd,
        )
    for lv in vg.lvs.values():
        _build_segments(vg, lv, f"{where}: logical_volumes/{lv.name}")
    return vg


def _build_segments(vg: VolumeGroup, lv: LogicalVolume, where: str) -> None:
    segs = [(k, v) for k, v in lv.raw.items() if isinstance(v, dict) and k.startswith("segment")]
    for key, sd in segs:
        w = f"{where}/{key}"
        try:
            index = int(key[len("segment") :])
        except ValueError:
            index = len(lv.segments) + 1
        areas = []
        for name, start in _areas(sd, vg, w):
            pv = vg.pvs.get(name)
            sub = None if pv is not None else vg.lvs.get(name)
            if pv is None and sub is None:
                raise MetadataError(f"{w}: area names {name!r}, which is neither a PV nor an LV")
            areas.append(SegmentArea(pv=pv, lv=sub, start=start, name=name))
        seg_type = sd.get("type", "")
        lv.segments.append(
            Segment(
                lv=lv,
                index=index,
                start_extent=_int(sd, "start_extent", w),
                extent_count=_int(sd, "extent_count", w),
                type=seg_type if isinstance(seg_type, str) else str(seg_type),
                areas=areas,
                stripe_size=_int(sd, "stripe_size", w, 0),
                raw=sd,
            )
        )
    lv.segments.sort(key=lambda s: s.start_extent)

