"""Target types of the device mapper, one module each, found through a registry.

``linear``, ``striped``, ``zero`` and ``error`` are built in.  A new target
type (snapshot, thin, raid, crypt, verity, ...) is a module here whose
:class:`Target` subclass (a constructor from the table's arguments and a
``map(offset, length)`` returning :class:`Run` objects; copy ``linear.py``, or
``striped.py`` for a mapping that repeats) is decorated with :func:`register_target`;
:func:`lookup_target` imports ``lvmread.dm.targets.<name>`` on first use, so
the core need not change.
"""

from __future__ import annotations

# the built-in target types register themselves on import
from lvmread.dm.targets import error, linear, striped, zero  # noqa: F401
from lvmread.dm.targets.base import (
    DeviceArea,
    DeviceLookup,
    DeviceRef,
    Run,
    Target,
    TargetContext,
    lookup_target,
    register_target,
    target_types,
    unregister_target,
)

__all__ = [
    "DeviceArea",
    "DeviceLookup",
    "DeviceRef",
    "Run",
    "Target",
    "TargetContext",
    "lookup_target",
    "register_target",
    "target_types",
    "unregister_target",
]
