"""Units and bounds every layer shares: the sector lvm2 counts in, and the largest
metadata text lvmread reads."""

SECTOR_SIZE = 512
"""The sector of lvm2's on-disk offsets and metadata: the one sector size of every module
outside the dm core (``lvmread.dm``, which imports nothing else of lvmread, states the
kernel's in ``lvmread.dm.table``). The device's own logical sector size, which partition
tables are in, is another matter (see :mod:`lvmread.ondisk.partitions`)."""

MAX_METADATA_TEXT = 16 << 20
"""The largest metadata text lvmread reads or parses, wherever it comes from (lvm2's own
VGs stay far below: about 1 KiB per LV, so this is some 15,000 LVs; parsing it takes a few
seconds)."""
