"""The activator: LV segments become the device-mapper tables lvm2 would load,
read through the userspace device mapper."""
