"""Read-only inputs: image files and block devices, and how the kernel names
them (device numbers, what storage a device is built on)."""
