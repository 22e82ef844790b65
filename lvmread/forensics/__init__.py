"""Forensics over the metadata history: what later versions did with an older version's
extents (:mod:`.reuse`), and what changed between two versions (:mod:`.diff`)."""
