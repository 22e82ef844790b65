"""The ``striped`` target: ``<#stripes> <chunk size> [<device> <offset>]+``.

RAID-0 over ``#stripes`` devices (kernel ``dm-stripe.c``; Documentation/
admin-guide/device-mapper/striped.rst).  The target is cut into chunks of
``chunk size`` sectors; chunk ``c`` lives on stripe ``c % #stripes`` as that
stripe's chunk ``c // #stripes``, from the stripe's ``offset`` on.

Validation follows ``stripe_ctr()`` of current kernels: the stripe count and
the chunk size are non-zero 32-bit decimals, the target length divides by the
stripe count and the per-stripe width by the chunk size, and there is one
``<device> <offset>`` pair per stripe.  Since Linux 3.6 the chunk size need
not be a power of two nor a multiple of the page size (older kernels, and the
outdated striped.rst, asked for both); LVM's own stripe-size rules belong to
the LVM layer.
"""

from __future__ import annotations

from typing import List, Tuple

from lvmread.dm.table import SECTOR_SHIFT
from lvmread.dm.targets.base import (
    MAX_PLANS,
    DeviceRef,
    Run,
    Target,
    TargetContext,
    register_target,
)

#: shapes of reads planned per target before the plans are forgotten
_MAX_PLANS = MAX_PLANS


@register_target
class StripedTarget(Target):
    """``striped <#stripes> <chunk size> [<device> <offset>]+``: RAID-0 over devices."""

    name = "striped"
    max_plans = _MAX_PLANS
    def __init__(self, ctx: TargetContext) -> None:
        super().__init__(ctx)
        args = ctx.args
        if len(args) < 2:
            raise ctx.error(
                f"not enough arguments: expected <#stripes> <chunk size> "
                f"[<device> <offset>]+, got {len(args)}"
            )
        stripes = ctx.uint_arg(0, "a stripe count (non-zero unsigned 32-bit integer)", 32)
        if stripes == 0:
            raise ctx.error("invalid stripe count: must not be 0", 0)
        chunk = ctx.uint_arg(1, "a chunk size (non-zero unsigned 32-bit sector count)", 32)
        if chunk == 0:
            raise ctx.error("invalid chunk size: must not be 0", 1)
        if ctx.length % stripes:
            raise ctx.error(
                f"target length {ctx.length} not divisible by number of stripes {stripes}"
            )
        width = ctx.length // stripes
        if width % chunk:
            raise ctx.error(
                f"target length {ctx.length} not divisible by chunk size {chunk} "
                f"times number of stripes {stripes}"
            )
        if len(args) != 2 + 2 * stripes:
            raise ctx.error(
                f"{stripes} stripes need {2 + 2 * stripes} arguments "
                f"(<#stripes> <chunk size> and a <device> <offset> pair each), "
                f"got {len(args)}"
            )
        #: number of stripes
        self.stripes = stripes
        #: chunk size in sectors
        self.chunk_size = chunk
        #: sectors of the target on each stripe
        self.stripe_width = width
        refs: List[DeviceRef] = []
        offsets: List[int] = []
        for i in range(stripes):
            offsets.append(ctx.sector_arg(3 + 2 * i))
            refs.append(ctx.device_arg(2 + 2 * i))
        #: (device, first sector) of each stripe
        self.refs: Tuple[DeviceRef, ...] = tuple(refs)
        self.offsets: Tuple[int, ...] = tuple(offsets)
        self._bases = [o << SECTOR_SHIFT for o in offsets]
        self._chunk_bytes = cs = chunk << SECTOR_SHIFT
        # a row of chunks (one per stripe) further on, each stripe one chunk further on
        self.periodic = (stripes * cs, cs)

    def map(self, offset: int, length: int) -> List[Run]:
        """Chunk ``c`` is chunk ``c // #stripes`` of stripe ``c % #stripes`` (the kernel's
        ``stripe_map_sector()``), from the stripe's offset on."""
        cs, n, refs, bases = self._chunk_bytes, self.stripes, self.refs, self._bases
        c, within = divmod(offset, cs)
        runs = []
        while length > 0:
            k = min(cs - within, length)
            row, s = divmod(c, n)
            runs.append(Run(refs[s], bases[s] + row * cs + within, k))
            length -= k
            c += 1
            within = 0
        return runs

    def map_sector(self, sector: int) -> Tuple[int, int]:
        """(stripe index, sector on that stripe's device) for a sector of the target."""
        run = self.map(sector << SECTOR_SHIFT, 1 << SECTOR_SHIFT)[0]
        return self.refs.index(run.ref), run.offset >> SECTOR_SHIFT  # type: ignore[arg-type]

    def args(self) -> List[str]:
        out = [str(self.stripes), str(self.chunk_size)]
        for r, o in zip(self.refs, self.offsets):
            out += [r.token, str(o)]
        return out
