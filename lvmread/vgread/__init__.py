"""Reading a VG: every metadata copy on the inputs (:mod:`.copies`; old ones found in the
rings by :mod:`.ring`, all of them listed by :mod:`.history`; backup files by
:mod:`.backup`), which copy wins (:mod:`.select`), the checks of the metadata's meaning
(:mod:`.validate`), and the scan that joins PVs into VGs (:mod:`.scan`).

Nothing is imported here, so that importing a module of this package stays cheap.
"""
