"""The model: volume groups, physical volumes, logical volumes and their segments.

Built from the dicts :func:`lvmread.text.metadata.parse_metadata` returns. Sizes kept from the
metadata are in 512-byte sectors or extents as lvm2 stores them; properties ending in
``_bytes`` give bytes. Unknown keys and segment types are kept, never rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from ..errors import MetadataError
from ..limits import SECTOR_SIZE

if TYPE_CHECKING:
    from ..ondisk.pv import PVDevice

# Flags a segment type may carry (``type = "cache-pool+METADATA_FORMAT"``); lvm2 reads each
# into the LV's status (lib/format_text/flags.c, SEGTYPE_FLAG).
SEGTYPE_FLAGS = frozenset(
    {
        "RESHAPE", "RESHAPE_DATA_OFFSET", "RESHAPE_DELTA_DISKS_PLUS",
        "RESHAPE_DELTA_DISKS_MINUS", "REMOVE_AFTER_RESHAPE", "METADATA_FORMAT",
        "CROP_METADATA", "CACHE_USES_CACHEVOL",
    }
)  # fmt: skip
_DEVICE_CHANGES = [0]
"""Counts assignments of ``PhysicalVolume.device`` (partial LVs are found again after one)."""


class SegmentTypeHooks(Protocol):
    """What the model asks of a segment type: the narrow hook through which it reaches
    :mod:`lvmread.segtypes` (which imports the model, never the other way round)."""

    known: bool
    is_raid: bool

    def link(self, vg: VolumeGroup, lv: LogicalVolume, seg: Segment) -> None: ...
    def parity_devs(self, seg: Segment) -> int: ...
    def data_copies(self, seg: Segment) -> int: ...
    def data_stripes(self, seg: Segment) -> int: ...
    def area_len(self, seg: Segment) -> int: ...


_SEGMENT_TYPES: list[Callable[[str], SegmentTypeHooks]] = []
"""The segment type lookup :mod:`lvmread.segtypes` installs when imported (``import
lvmread`` imports it, so it is there before any segment is built)."""


def set_segment_types(lookup: Callable[[str], SegmentTypeHooks]) -> None:
    """Install the lookup from a segment type name to its handler."""
    _SEGMENT_TYPES[:] = [lookup]


def split_segtype(text: str) -> tuple[str, list[str]]:
    """The segment type and its flags as lvm2 reads ``type``: ``cache+CACHE_USES_CACHEVOL``
    is type ``cache`` with flag ``CACHE_USES_CACHEVOL``. As in lvm2, a type carrying a flag
    it does not know keeps its whole text (and so is an unknown segment type)."""
    base, *flags = text.split("+")
    if flags and all(f in SEGTYPE_FLAGS for f in flags):
        return base, flags
    return text, flags


# Keys whose values name other LVs, by segment type (lvm2's lib/*/*.c text import).
LV_REFERENCE_KEYS = (
    "mirror_log",
    "metadata",
    "pool",
    "thin_pool",
    "origin",
    "merge",
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

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "device":  # what VolumeGroup.lv_is_partial found may change
            _DEVICE_CHANGES[0] += 1
        object.__setattr__(self, name, value)

    @property
    def missing(self) -> bool:
        return self.device is None

    @property
    def name(self) -> str:
        """The input that holds this PV, or ``[unknown]`` as lvm2 says of a missing one."""
        return self.device.name if self.device is not None else "[unknown]"

    @property
    def pe_start_bytes(self) -> int:
        return self.pe_start * SECTOR_SIZE


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
    """One segment of an LV with every key its metadata section holds.

    ``areas`` are the area arrays exactly as the metadata lists them (a raid segment's
    ``raids`` interleave ``_rmeta_`` and ``_rimage_`` LVs). ``data_areas``, ``meta_areas`` and
    the ``*_lv`` links are what lvm2 makes of the segment when it reads it in (each segment
    type's ``text_import``): e.g. a thin-pool's one area is its data LV (``pool = ...``), a
    cache segment's is its origin LV.
    """

    lv: LogicalVolume = field(repr=False)
    index: int
    start_extent: int
    extent_count: int
    type: str
    """The segment type without flags (``cache`` for ``cache+CACHE_USES_CACHEVOL``)."""
    areas: list[SegmentArea]
    stripe_size: int = 0
    """Stripe (chunk) size in sectors, 0 where the type has none."""
    raw: dict = field(default_factory=dict, repr=False)
    type_flags: list[str] = field(default_factory=list)
    """Flags written after the type (``cache+CACHE_USES_CACHEVOL``): lvm2 sets them on the LV."""
    data_areas: list[SegmentArea] = field(default_factory=list, repr=False)
    """lvm2's areas of the segment (its ``area_count``): the data images of a raid, the data
    LV of a thin or cache pool, the origin of a cache, writecache or integrity segment, the
    pool of a vdo segment; none for thin, snapshot, zero and error segments."""
    meta_areas: list[SegmentArea] = field(default_factory=list, repr=False)
    """A raid segment's metadata sub-LVs (``_rmeta_``), one per data image."""
    pool_lv: Optional[LogicalVolume] = field(default=None, repr=False)
    """The thin pool of a thin segment, the cache pool (or cachevol) of a cache segment."""
    metadata_lv: Optional[LogicalVolume] = field(default=None, repr=False)
    """The metadata LV of a thin or cache pool segment."""
    origin_lv: Optional[LogicalVolume] = field(default=None, repr=False)
    """The origin of a snapshot, thin snapshot, writecache or integrity segment."""
    cow_lv: Optional[LogicalVolume] = field(default=None, repr=False)
    """The COW store of a snapshot segment."""
    merge_lv: Optional[LogicalVolume] = field(default=None, repr=False)
    external_lv: Optional[LogicalVolume] = field(default=None, repr=False)
    log_lv: Optional[LogicalVolume] = field(default=None, repr=False)
    writecache_lv: Optional[LogicalVolume] = field(default=None, repr=False)
    integrity_meta_lv: Optional[LogicalVolume] = field(default=None, repr=False)
    merging: bool = False
    """A snapshot (or thin snapshot) segment that is merging into its origin."""

    handler: SegmentTypeHooks = field(default=None, repr=False, compare=False)  # type: ignore
    """What the segment's type does (:mod:`lvmread.segtypes`); set when the segment is built."""

    def __post_init__(self) -> None:
        if self.handler is None:
            self.handler = _SEGMENT_TYPES[0](self.type)

    @property
    def known(self) -> bool:
        return self.handler.known

    @property
    def is_raid(self) -> bool:
        return self.handler.is_raid

    @property
    def parity_devs(self) -> int:
        """Parity images of a raid type (lvm2's ``segtype->parity_devs``): 1 raid4/5, 2 raid6."""
        return self.handler.parity_devs(self)

    @property
    def data_copies(self) -> int:
        """lvm2's ``data_copies``: 2 for raid10, the image count for raid1, parity + 1 for
        striped raid, 1 otherwise (a raid segment's own ``data_copies`` key wins when >= 2)."""
        return self.handler.data_copies(self)

    @property
    def stripes(self) -> int:
        """lvm2's ``stripes`` report field: the segment's ``area_count``."""
        return len(self.data_areas)

    @property
    def data_stripes(self) -> int:
        """lvm2's ``data_stripes``: areas less trailing images freed by a reshape, less parity
        (divided by the copies for raid10)."""
        return self.handler.data_stripes(self)

    @property
    def area_len(self) -> int:
        """Extents each area holds (lvm2's ``area_len``)."""
        if not self.data_areas:
            return self.extent_count
        return self.handler.area_len(self)

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
    """Faults that make the LV unusable (see :mod:`lvmread.vgread.validate`)."""
    lvm2_status: set[str] = field(default_factory=set, repr=False)
    """The LV's status as lvm2 holds it once the metadata is read in: the words of its
    ``status`` and ``flags`` lists and of its segment types' flags, and the roles the other
    LVs' segments give it (``THIN_POOL``, ``THIN_POOL_DATA``, ``THIN_POOL_METADATA``,
    ``THIN_VOLUME``, ``CACHE``, ``CACHE_POOL``, ``CACHE_POOL_DATA``, ``CACHE_POOL_METADATA``,
    ``CACHE_VOL``, ``RAID``, ``RAID_IMAGE``, ``RAID_META``, ``MIRROR``, ``MIRRORED``,
    ``MIRROR_IMAGE``, ``MIRROR_LOG``, ``SNAPSHOT``, ``VIRTUAL``, ``VIRTUAL_ORIGIN``, ``MERGING``,
    ``POOL_METADATA_SPARE``, ...). ``VISIBLE`` is dropped where lvm2 hides an LV it attaches."""
    snapshot: Optional[Segment] = field(default=None, repr=False)
    """For a COW store (and a merging origin): the snapshot segment using it (lvm2's
    ``lv->snapshot``)."""
    snapshot_segs: list[Segment] = field(default_factory=list, repr=False)
    """For an origin: the snapshot segments of its (thick) snapshots."""
    users: list[Segment] = field(default_factory=list, repr=False)
    """The segments that use this LV (lvm2's ``segs_using_this_lv``)."""
    external_count: int = 0
    """Thin volumes using this LV as their external origin."""

    @property
    def visible(self) -> bool:
        """lvm2's ``lv_is_visible``: a snapshot's COW store is visible as its origin is (it is
        the snapshot users see); the internal ``snapshotN`` LV is not."""
        lv: LogicalVolume = self
        for _ in range(8):
            if "SNAPSHOT" in lv.lvm2_status:
                return False
            if not lv.is_cow:
                return "VISIBLE" in lv.lvm2_status
            origin = lv.snapshot.origin_lv if lv.snapshot is not None else None
            if origin is None:
                return False
            if "VIRTUAL_ORIGIN" in origin.lvm2_status:
                return True
            if lv.snapshot is not None and lv.snapshot.merging:
                return False
            lv = origin
        return False

    @property
    def reported(self) -> bool:
        """Whether ``lvs -a`` lists this LV: every LV but the internal ``snapshotN`` ones."""
        return not self.is_snapshot

    @property
    def is_snapshot(self) -> bool:
        """The internal LV of a thick snapshot (``snapshotN``, segment type ``snapshot``)."""
        return "SNAPSHOT" in self.lvm2_status

    @property
    def is_origin(self) -> bool:
        """The origin of thick snapshots (lvm2's ``lv_is_origin``)."""
        return bool(self.snapshot_segs)

    @property
    def is_cow(self) -> bool:
        """The COW store of a thick snapshot: the LV ``lvs`` shows as the snapshot."""
        return (
            self.snapshot is not None
            and "THIN_VOLUME" not in self.lvm2_status
            and not self.is_origin
        )

    @property
    def is_merging_cow(self) -> bool:
        return self.is_cow and self.snapshot is not None and self.snapshot.merging

    @property
    def is_merging_origin(self) -> bool:
        return "MERGING" in self.lvm2_status and self.snapshot is not None

    @property
    def origin_of_cow(self) -> Optional[LogicalVolume]:
        """The origin of the snapshot whose COW store this LV is."""
        return self.snapshot.origin_lv if self.is_cow and self.snapshot is not None else None

    def thin_snapshot_count(self) -> int:
        """Thin volumes made as snapshots of this thin volume (0 when it is no thin origin)."""
        if "THIN_VOLUME" not in self.lvm2_status:
            return 0
        return sum(1 for seg in self.users if seg.origin_lv is self)

    @property
    def is_thin_snapshot(self) -> bool:
        if "THIN_VOLUME" not in self.lvm2_status or not self.segments:
            return False
        seg = self.segments[0]
        return seg.origin_lv is not None or seg.external_lv is not None

    def _only_user(self) -> Optional[Segment]:
        return self.users[0] if len(self.users) == 1 else None

    def _origin_under(self, status: str) -> bool:
        """Whether the one LV using this one has ``status`` and this LV as its data area."""
        seg = self._only_user()
        return (
            seg is not None
            and status in seg.lv.lvm2_status
            and "PENDING_DELETE" not in seg.lv.lvm2_status
            and bool(seg.data_areas)
            and seg.data_areas[0].lv is self
        )

    @property
    def is_cache_origin(self) -> bool:
        """The origin LV under a cache LV (``*_corig``)."""
        return self._origin_under("CACHE")

    @property
    def is_writecache_origin(self) -> bool:
        return "WRITECACHE_ORIGIN" in self.lvm2_status or self._origin_under("WRITECACHE")

    @property
    def is_writecache_cachevol(self) -> bool:
        return any("WRITECACHE" in s.lv.lvm2_status and s.writecache_lv is self for s in self.users)

    @property
    def is_integrity_origin(self) -> bool:
        return any("INTEGRITY" in s.lv.lvm2_status and s.origin_lv is self for s in self.users)

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
        return self.extent_count * self.vg.extent_size * SECTOR_SIZE

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
    _partial: Optional[tuple[int, frozenset[int]]] = field(
        default=None, init=False, repr=False, compare=False
    )

    def activator_for(self, lv: LogicalVolume) -> Any:
        if self.activator is None:
            from ..errors import UsageError

            raise UsageError(f"LV {self.name}/{lv.name}: this VG was not opened from disks")
        return self.activator

    @property
    def extent_size_bytes(self) -> int:
        return self.extent_size * SECTOR_SIZE

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
        from ..errors import UsageError

        raise UsageError(f"volume group {self.name} has no logical volume {name_or_uuid}")

    def lv_is_partial(self, lv: LogicalVolume) -> bool:
        """lvm2's ``PARTIAL_LV``: the LV, or an LV it depends on, has an area on a missing PV.

        The dependencies are lvm2's (``_lv_each_dependency``): the areas of each segment
        (the data images of a raid, not its metadata sub-LVs), a segment's pool, metadata,
        log, writecache, integrity metadata and external origin LVs, a COW store's origin and
        an origin's COW stores. lvm2 spreads the flag over these links transitively; here it
        is the whole closure (lvm2's single post-order pass can miss an origin/COW cycle),
        found for every LV of the VG at once and kept until a PV's device changes.
        """
        if self._partial is None or self._partial[0] != _DEVICE_CHANGES[0]:
            self._partial = (_DEVICE_CHANGES[0], self._partial_lvs())
        return id(lv) in self._partial[1]

    def _partial_lvs(self) -> frozenset[int]:
        """The ids of the partial LVs: those with an area on a missing PV, then, following
        the dependencies backwards, every LV that depends on one (each link once)."""
        users: dict[int, list[LogicalVolume]] = {}
        todo: list[LogicalVolume] = []
        for cur in self.lvs.values():
            deps: list[Optional[LogicalVolume]] = []
            if cur.snapshot is not None:
                deps += [cur.snapshot.origin_lv, cur.snapshot.cow_lv]
            missing = False
            for seg in cur.segments:
                for area in seg.data_areas:
                    if area.pv is not None and area.pv.missing:
                        missing = True
                    deps.append(area.lv)
                deps += [
                    seg.external_lv,
                    seg.log_lv,
                    seg.pool_lv,
                    seg.metadata_lv,
                    seg.writecache_lv,
                    seg.integrity_meta_lv,
                ]
            deps += [s.cow_lv for s in cur.snapshot_segs]
            for dep in deps:
                if dep is not None and dep is not cur:
                    users.setdefault(id(dep), []).append(cur)
            if missing:
                todo.append(cur)
        partial = {id(lv) for lv in todo}
        while todo:
            for user in users.get(id(todo.pop()), ()):
                if id(user) not in partial:
                    partial.add(id(user))
                    todo.append(user)
        return frozenset(partial)


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
    _link(vg)
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
        base, flags = split_segtype(seg_type if isinstance(seg_type, str) else str(seg_type))
        lv.segments.append(
            Segment(
                lv=lv,
                index=index,
                start_extent=_int(sd, "start_extent", w),
                extent_count=_int(sd, "extent_count", w),
                type=base,
                areas=areas,
                stripe_size=_int(sd, "stripe_size", w, 0),
                raw=sd,
                type_flags=flags,
            )
        )
    lv.segments.sort(key=lambda s: s.start_extent)


def _link(vg: VolumeGroup) -> None:
    """Give every LV and segment what lvm2 derives on reading the metadata: LV status bits
    and roles, segment areas and the links between LVs (one pass over the segments)."""
    for lv in vg.lvs.values():
        lv.lvm2_status = {*lv.status, *lv.flags}
        if "VISIBLE" not in lv.lvm2_status:
            if "_pmspare" in lv.name:
                lv.lvm2_status.add("POOL_METADATA_SPARE")
            elif lv.name == "lvmlock":
                lv.lvm2_status.add("LOCKD_SANLOCK_LV")
    for lv in vg.lvs.values():
        for seg in lv.segments:
            for flag in seg.type_flags:
                if flag not in SEGTYPE_FLAGS:
                    break
                lv.lvm2_status.add(flag)
            seg.handler.link(vg, lv, seg)
    for lv in vg.lvs.values():
        # lvm2 assumes an invisible origin belongs to a sparse (virtual) snapshot
        if lv.snapshot_segs and not lv.visible:
            lv.lvm2_status.add("VIRTUAL_ORIGIN")
