"""lvm2-style reports of VGs and LVs, and escaping of text quoted from disks."""
