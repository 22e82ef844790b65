"""The model: volume groups, physical and logical volumes, segments, and the checks
of their meaning."""
