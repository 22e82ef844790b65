"""The binary on-disk structures: partition tables, the PV label, pv_header and
metadata areas, checksums, and the field-by-field dump."""
