"""Errors of the device-mapper core.

Every problem the device mapper finds is a :class:`DMError`.  It carries where
the problem is, as far as that is known: the mapped device, the table line, the
target type and the argument (its 1-based index among the target's arguments
and its text), and for I/O errors the sector.  ``str(err)`` joins those into one
line, e.g.::

    table line 2: striped: argument 3 ("7:0x"): not a device offset
    vg0-lv0: sector 2048: I/O error (error target)

This module deliberately imports nothing from the rest of lvmread.
"""

from __future__ import annotations

import errno


class DMError(Exception):
    """Base of every error the device-mapper core raises."""

    def __init__(
        self,
        message: str,
        *,
        device: str | None = None,
        line: int | None = None,
        target: str | None = None,
        arg_index: int | None = None,
        argument: str | None = None,
        sector: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        #: name of the mapped device the error is about, if known
        self.device = device
        #: 1-based line number of the table text, if known
        self.line = line
        #: target type name ("linear", "striped", ...), if known
        self.target = target
        #: 1-based index of the offending argument among the target's arguments
        self.arg_index = arg_index
        #: text of the offending argument
        self.argument = argument
        #: 512-byte sector of the mapped device (I/O errors)
        self.sector = sector

    def where(self) -> str:
        """The location prefix of the message (may be empty)."""
        parts = []
        if self.device is not None:
            parts.append(self.device)
        if self.line is not None:
            parts.append(f"table line {self.line}")
        if self.target is not None:
            parts.append(self.target)
        if self.arg_index is not None:
            if self.argument is not None:
                parts.append(f'argument {self.arg_index} ("{self.argument}")')
            else:
                parts.append(f"argument {self.arg_index}")
        if self.sector is not None:
            parts.append(f"sector {self.sector}")
        return ": ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message

    def __reduce__(self):  # keep keyword attributes when pickled (multiprocessing)
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


_LOCATION = ("device", "line", "target", "arg_index", "argument", "sector")


def _rebuild(cls: type, message: str, state: dict) -> DMError:
    err = cls(message, **{k: state.get(k) for k in _LOCATION})
    err.__dict__.update(state)
    return err


class DMTableError(DMError):
    """A table does not parse or does not validate (syntax, gaps, target arguments)."""


class DMDeviceError(DMError):
    """An underlying device cannot be found, opened, sized, or is not usable."""


class DMIOError(DMError, OSError):
    """Reading a mapped device failed: error target, I/O error or short read below it.

    Also an :class:`OSError` with ``errno`` ``EIO``, so code that handles file
    errors generically catches it too.
    """

    def __init__(self, message: str, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.errno = errno.EIO
        self.strerror = message

    def __str__(self) -> str:  # OSError.__str__ would print "[Errno 5] ..."
        return DMError.__str__(self)
