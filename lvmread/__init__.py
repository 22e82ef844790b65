"""lvmread: read LVM2 volumes straight from disks and disk images.

>>> import lvmread
>>> with lvmread.open(["disk.img"]) as disks:          # doctest: +SKIP
...     lv = disks.lv("vg0/root")
...     print(lv.size, lv.segment_types)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional, Union

from .errors import LvmReadError

if TYPE_CHECKING:
    import os

    from .vgread.scan import DiskSet

__version__ = "0.1.0"
__all__ = ["LvmReadError", "open", "__version__"]


PathArg = Union[str, "os.PathLike[str]"]


def open(
    paths: Union[PathArg, Iterable[PathArg]],
    *,
    seqno: Optional[int] = None,
    metadata: Optional[Iterable[PathArg]] = None,
    vg: Optional[str] = None,
) -> DiskSet:
    """Open disk images or devices read-only and assemble the LVM volume groups on them.

    Returns a :class:`~lvmread.vgread.scan.DiskSet`: iterate it for the VGs, or use
    ``disks.vg(name)`` and ``disks.lv("VG/LV")`` (a VG name that two VGs carry is ambiguous
    and refused: give the VG uuid); ``disks.errors`` and ``disks.warnings`` hold what could
    not be read. Close it (or use ``with``) to close the inputs.

    ``seqno`` builds the VGs from that older version of their metadata (still in the
    metadata ring); ``metadata`` adds lvm2 backup or archive files as metadata sources;
    ``vg`` keeps only the VG(s) of that name, or the VG of that uuid.
    """
    from .vgread.scan import open_disks

    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]  # type: ignore[list-item]
    files = [str(m) for m in metadata] if metadata is not None else None
    names = [str(p) for p in paths]  # type: ignore[union-attr]
    return open_disks(names, seqno=seqno, metadata=files, vg=vg)


from . import segtypes as segtypes  # noqa: E402  (installs the segment types the model asks)
