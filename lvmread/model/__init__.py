"""The model: volume groups, physical and logical volumes and their segments
(:mod:`.volumes`)."""
