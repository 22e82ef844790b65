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

import os
from typing import Dict, List, Optional, Tuple

from lvmread.dm.devices import IOV_MAX, Buffer, FastRead, FileDevice, merge_ranges
from lvmread.dm.table import SECTOR_SHIFT
from lvmread.dm.targets.base import DeviceArea, DeviceRef, Target, TargetContext, register_target

#: how a read of one shape lands on the stripes: (stripe, slices of the buffer, byte offset
#: on the stripe from the read's row of chunks, byte count), one per stripe it touches
#: (the fast reader has the stripe's file and byte offset in the file instead)
_Plan = Tuple[Tuple[object, Tuple[slice, ...], int, int], ...]
#: shapes of reads planned per target before the plans are forgotten
_MAX_PLANS = 64
_UNPLANNED: object = object()


@register_target
class StripedTarget(Target):
    """``striped <#stripes> <chunk size> [<device> <offset>]+``: RAID-0 over devices."""

    name = "striped"

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
        self._devs = [r.device for r in refs]
        self._bases = [o << SECTOR_SHIFT for o in offsets]
        self._chunk_bytes = chunk << SECTOR_SHIFT

    def map_sector(self, sector: int) -> Tuple[int, int]:
        """(stripe index, sector on that stripe's device) for a sector of the target.

        The kernel's ``stripe_map_sector()`` plus the stripe's offset.
        """
        chunk, within = divmod(sector, self.chunk_size)
        stripe, schunk = chunk % self.stripes, chunk // self.stripes
        return stripe, self.offsets[stripe] + schunk * self.chunk_size + within

    def preadinto(self, buf: Buffer, offset: int) -> None:
        cs = self._chunk_bytes
        n = self.stripes
        length = len(buf)
        c0, within = divmod(offset, cs)
        if within + length <= cs:  # inside one chunk
            stripe = c0 % n
            self._devs[stripe].preadinto(buf, self._bases[stripe] + (c0 // n) * cs + within)
            return
        # Each stripe's share of the range is contiguous on its device: read it with
        # one preadv straight into the pieces of the caller's buffer (every n-th chunk)
        # the plan of this shape of read names (the device batches past IOV_MAX).
        mv = memoryview(buf).cast("B")
        row, phase = divmod(offset, n * cs)
        for s, slices, rel, _total in self._plan(phase, length, max_pieces=None):
            self._devs[s].preadv([mv[x] for x in slices], self._bases[s] + row * cs + rel)

    def mapped_ranges(self, kind: str, offset: int, length: int) -> List[Tuple[int, int]]:
        """Each stripe's share of the range is one range of its device: ask each device,
        then walk the rows of chunks (one chunk per stripe): rows that every stripe's
        answer covers join into one range, rows none of them touches are skipped, and
        only the rows in between give a piece per chunk. So the work and the answer grow
        with how fragmented the answer is, not with the length asked about."""
        if length <= 0:
            return []
        cs = self._chunk_bytes
        n = self.stripes
        row = n * cs
        end = offset + length
        r0, r1 = offset // row, -(-end // row)
        spans: List[List[Tuple[int, int]]] = []  # per stripe: [start, end) on the stripe
        for dev, base in zip(self._devs, self._bases):
            got = dev.mapped_ranges(kind, base + r0 * cs, (r1 - r0) * cs)
            spans.append([(o - base, o - base + k) for o, k in got])
        if not any(spans):
            return []
        out: List[Tuple[int, int]] = []
        at = [0] * n
        r = r0
        while r < r1:
            lo, hi = r * cs, (r + 1) * cs
            covered_until = r1  # rows every stripe covers, from r
            untouched_until = r1  # rows no stripe touches, from r
            partial = False
            for s in range(n):
                iv, i = spans[s], at[s]
                while i < len(iv) and iv[i][1] <= lo:
                    i += 1
                at[s] = i
                if i < len(iv) and iv[i][0] <= lo and iv[i][1] >= hi:
                    covered_until = min(covered_until, iv[i][1] // cs)
                    untouched_until = r
                else:
                    covered_until = r
                    if i < len(iv) and iv[i][0] < hi:
                        partial = True
                        untouched_until = r
                    elif i < len(iv):
                        untouched_until = min(untouched_until, iv[i][0] // cs)
            if covered_until > r:
                out.append((r * row, (covered_until - r) * row))
                r = covered_until
            elif untouched_until > r and not partial:
                r = untouched_until
            else:  # the stripes differ in this row: a piece per chunk
                for s in range(n):
                    iv = spans[s]
                    i = at[s]
                    while i < len(iv) and iv[i][0] < hi:
                        a, b = max(iv[i][0], lo), min(iv[i][1], hi)
                        out.append((r * row + s * cs + a - lo, b - a))
                        i += 1
                r += 1
        clipped = [
            (max(o, offset), min(o + k, end) - max(o, offset))
            for o, k in out
            if o < end and o + k > offset
        ]
        return merge_ranges(clipped)

    def fast_reader(self) -> Optional[FastRead]:
        """When every stripe is a plain range of a host file: a read is one ``preadv``
        per stripe straight into the caller's buffer, as :meth:`preadinto` does, without
        going through the device objects.

        The pieces of the caller's buffer each stripe fills depend only on where the
        read starts within a row of chunks (one chunk per stripe) and on its length, so
        they are planned once per such shape (a sequential reader has one) as slice
        objects, and a read only applies them to the buffer.
        """
        if not hasattr(os, "preadv"):  # pragma: no cover
            return None
        files: List[FileDevice] = []
        bases: List[int] = []
        for dev, base in zip(self._devs, self._bases):
            flat = dev.flat_range(base, self.stripe_width << SECTOR_SHIFT)
            if flat is None:
                return None
            files.append(flat[0])
            bases.append(flat[1])
        cs = self._chunk_bytes
        n = self.stripes
        stride = n * cs
        plans: Dict[Tuple[int, int], object] = {}
        preadv = os.preadv

        def plan_for(phase: int, length: int) -> Optional[_Plan]:
            plan = self._plan(phase, length)
            if plan is None:
                return None
            # with the stripe's file and where its range starts in the file
            return tuple((files[s], sl, bases[s] + rel, total) for s, sl, rel, total in plan)

        def read(buf: Buffer, offset: int, length: int) -> bool:
            row, phase = divmod(offset, stride)
            if phase % cs + length <= cs:  # inside one chunk
                s = phase // cs
                return preadv(files[s]._fd, (buf,), bases[s] + row * cs + phase % cs) == length
            plan = plans.get((phase, length), _UNPLANNED)
            if plan is _UNPLANNED:
                if len(plans) >= _MAX_PLANS:
                    plans.clear()
                plan = plans[phase, length] = plan_for(phase, length)
            if plan is None:  # too many pieces for one preadv: the general path
                return False
            mv = memoryview(buf)
            if mv.format != "B":
                mv = mv.cast("B")
            piece = mv.__getitem__
            at = row * cs
            for f, slices, start, total in plan:
                if preadv(f._fd, list(map(piece, slices)), start + at) != total:
                    return False
            return True

        return read

    def _plan(
        self, phase: int, length: int, max_pieces: Optional[int] = IOV_MAX
    ) -> Optional[_Plan]:
        """For a read of ``length`` bytes from byte ``phase`` of a row of chunks: per stripe
        that the read touches, (stripe, the slices of the buffer it fills, where its share
        starts on the stripe relative to the row's first chunk there, bytes in all); None
        if some stripe would need more than ``max_pieces`` pieces (by default, what one
        ``preadv`` takes)."""
        cs = self._chunk_bytes
        n = self.stripes
        stride = n * cs
        c0 = phase // cs
        plan = []
        for c in range(c0, min((phase + length - 1) // cs, c0 + n - 1) + 1):
            o = c * cs - phase  # where chunk c starts in the buffer (< 0: entered midway)
            slices = [slice(max(o, 0), o + cs)]
            slices += [slice(p, min(p + cs, length)) for p in range(o + stride, length, stride)]
            slices[0] = slice(slices[0].start, min(slices[0].stop, length))
            if max_pieces is not None and len(slices) > max_pieces:
                return None
            total = sum(x.stop - x.start for x in slices)
            plan.append((c % n, tuple(slices), (c // n) * cs - min(o, 0), total))
        return tuple(plan)

    def args(self) -> List[str]:
        out = [str(self.stripes), str(self.chunk_size)]
        for r, o in zip(self.refs, self.offsets):
            out += [r.token, str(o)]
        return out

    def device_areas(self) -> List[DeviceArea]:
        return [DeviceArea(r, o, self.stripe_width) for r, o in zip(self.refs, self.offsets)]
