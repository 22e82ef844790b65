"""Reading a VG: its metadata copies (:mod:`.copies`) and which of them wins (:mod:`.select`).

Nothing is imported here, so that importing a module of this package stays cheap.
"""
