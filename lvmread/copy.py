"""Copying an LV's bytes out: sparse output files, a progress bar, partial reads; and the
guard that keeps every output off the storage of the inputs."""

from __future__ import annotations

import io
import os
import stat
import sys
import time
from typing import Iterable, Iterator, Optional

from .errors import LvmIOError, UsageError

CHUNK = 4 << 20
_ZERO = bytes(CHUNK)


class _Progress:
    """A one-line progress bar on stderr, shown only when stderr is a terminal."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.enabled = sys.stderr.isatty()
        self.start = self.last = time.monotonic()

    def update(self, done: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        frac = done / self.total if self.total else 1.0
        rate = done / max(now - self.start, 1e-6) / (1 << 20)
        bar = "#" * int(frac * 30)
        sys.stderr.write(
            f"\r[{bar:<30}] {frac * 100:5.1f}% "
            f"{done >> 20}/{self.total >> 20} MiB {rate:.0f} MiB/s"
        )
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            self.update(self.total, force=True)
            sys.stderr.write("\n")


def _sendfile(src, out_fd: int, pos: int, n: int) -> bool:
    """Copy ``n`` bytes at ``pos`` of ``src`` to ``out_fd`` inside the kernel (no copy through
    userspace) when that range lies in one contiguous range of one image file."""
    table = getattr(src, "table", None)
    flat = table.flat_range(pos, n) if table is not None else None
    if flat is None:
        return False
    fdev, offset = flat
    done = 0
    try:
        while done < n:
            sent = os.sendfile(out_fd, fdev.fd, offset + done, n - done)
            if sent == 0:
                raise OSError(f"{fdev.name}: short read at byte {offset + done}")
            done += sent
    except OSError:
        if done:
            raise
        return False  # sendfile refused this pair of files: copy through userspace
    return True


class OutputGuard:
    """Refuses outputs that land on storage an input holds (see :meth:`check`).

    What the inputs are connected to is found once (sysfs is read lazily, and once); each
    output is then one walk down from where it would land. ``inputs`` are
    :class:`~lvmread.inputs.source.InputFile` objects or paths.
    """

    def __init__(self, inputs: Iterable, sysfs: str = "/sys") -> None:
        from .inputs.blockdev import StorageGraph

        self.graph = StorageGraph(sysfs)
        #: the node of each input that exists (its path in ``graph.names``)
        self.inputs: list[tuple] = []
        self._closures: Optional[list[dict]] = None
        self._outs: dict[tuple, dict] = {}  # the walk down from each set of roots
        for f in inputs:
            path = os.fspath(getattr(f, "path", f))
            try:
                st = os.fstat(f.fd) if getattr(f, "fd", -1) >= 0 else os.stat(path)
            except (OSError, TypeError, ValueError):
                continue
            node = _node(st)
            self.inputs.append(node)
            self.graph.names.setdefault(node, path)

    def _roots(self, output: Optional[str], folder: bool) -> list[tuple[tuple, str]]:
        """Where ``output`` (a path, or None for stdout) would land: (node, how the output
        relates to it) for the file or device itself, and the device of the file system
        it is (or would be created) on. Nothing for a pipe, a terminal, /dev/null, nor
        for a ``folder`` that is a file (nothing can be written into it)."""
        try:
            if output is None:
                st = os.fstat(sys.stdout.fileno())
            else:
                real = target = os.path.realpath(output)  # a dangling symlink: its target
                while True:
                    try:
                        st = os.stat(target)
                        break
                    except FileNotFoundError:
                        parent = os.path.dirname(target)
                        if parent == target:
                            return []
                        target = parent
                if target != real:  # not there yet: created in ``target``
                    if not stat.S_ISDIR(st.st_mode):
                        return []  # under a file: cannot be created
                    return self._fs_root(st)
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            return []  # no real stdout, an unreadable path: open will say what is wrong
        if stat.S_ISDIR(st.st_mode):  # a folder to write files into
            return self._fs_root(st)
        if folder:
            return []
        if stat.S_ISBLK(st.st_mode):
            return [(_node(st), "is")]
        if stat.S_ISREG(st.st_mode):
            return [(_node(st), "is"), *self._fs_root(st)]
        return []

    def _fs_root(self, st: os.stat_result) -> list[tuple[tuple, str]]:
        return [(fs, "is on a file system of") for fs in self.graph.fs_devices(st.st_dev)]

    def check(self, output: Optional[str], folder: bool = False) -> None:
        """Raise :class:`UsageError` when ``output`` (a path, existing or not; None for
        stdout; with ``folder``, a folder to make and write files into) is an input or on
        storage an input holds: the same file or device, a partition of an input disk (or
        its disk), a loop device over an input image (or the image behind an input loop
        device), a device stacked on an input or under it, or a file system on any of
        these. Nothing is created."""
        roots = self._roots(output, folder)
        if not roots or not self.inputs:
            return
        what = "the folder" if folder else "the output"
        subject = f"{what} {output}" if output is not None else "stdout"
        for node, lead in roots:
            if lead == "is":
                self.graph.names.setdefault(node, output or "stdout")
        key = tuple(n for n, _ in roots)
        if key not in self._outs:
            self._outs[key] = self.graph.closure(list(key), up=False, files_down=True)
        out = self._outs[key]
        if self._closures is None:
            self._closures = [self.graph.closure([n], up=True) for n in self.inputs]
        for meet in out:  # the nearest first
            for node, closure in zip(self.inputs, self._closures):
                if meet in closure:
                    raise UsageError(
                        f"{subject} {self._explain(out, closure, meet, dict(roots), node)}; "
                        "lvmread never writes to its inputs"
                    )

    def _explain(self, out: dict, closure: dict, meet: tuple, lead: dict, input_: tuple) -> str:
        """How the output reaches ``meet`` and ``meet`` the input, in words."""
        down = [meet]
        while out[down[-1]] is not None:
            down.append(out[down[-1]][0])
        down.reverse()  # a root ... meet
        steps = [(out[n][2], n) for n in down[1:]]  # "previous is INV n"
        n = meet
        while closure[n] is not None:
            prev, rel, _inv = closure[n]
            steps.append((rel, prev))
            n = prev
        graph = self.graph

        def name(node: tuple) -> str:
            return f"the input {graph.names[node]}" if node == input_ else graph.name(node)

        root = down[0]
        if lead[root] == "is":  # the output itself: say what it is
            if not steps:
                return f"is {name(root)}"
            rel, node = steps.pop(0)
            text = f"is {rel} {name(node)}"
        else:
            text = f"{lead[root]} {name(root)}"
        return text + "".join(f", {rel} {name(node)}" for rel, node in steps)


def _node(st: os.stat_result) -> tuple:
    from .inputs.blockdev import file_node

    return file_node(st)


def check_output(output: Optional[str], inputs: Iterable, sysfs: str = "/sys") -> None:
    """Refuse to write ``output`` (a path, existing or not; None: what stdout is, as in
    ``>> x.img``) where an input keeps its bytes (see :meth:`OutputGuard.check`)."""
    OutputGuard(inputs, sysfs).check(output)


#: runs of unreadable bytes reported one by one; the rest are counted in a last warning
MAX_RUN_WARNINGS = 10


class _Unread:
    """The runs of bytes that could not be read, reported as warnings: the first
    :data:`MAX_RUN_WARNINGS` one by one, then a count (a striped LV with a missing PV has
    a run in every other chunk)."""

    def __init__(self) -> None:
        self.runs: list[list[int]] = []  # [first, end): not reported yet
        self.count = 0
        self.total = 0

    def add(self, first: int, end: int) -> None:
        while self.runs and self.runs[-1][0] >= first:  # (a whole chunk after its holes)
            end = max(end, self.runs.pop()[1])
        if self.runs and self.runs[-1][1] >= first:
            self.runs[-1][1] = max(self.runs[-1][1], end)
        else:
            self.runs.append([first, end])

    def done_before(self, pos: int) -> Iterator[str]:
        """Warnings for the runs that end before ``pos`` (they can grow no more)."""
        while self.runs and (len(self.runs) > 1 or self.runs[0][1] < pos):
            yield from self._report(*self.runs.pop(0))

    def finish(self) -> Iterator[str]:
        for run in self.runs:
            yield from self._report(*run)
        self.runs = []
        if self.count > MAX_RUN_WARNINGS:
            yield (
                f"in all, {self.total} bytes in {self.count} ranges could not be read; "
                "wrote zeros"
            )

    def _report(self, first: int, end: int) -> Iterator[str]:
        self.count += 1
        self.total += end - first
        if self.count <= MAX_RUN_WARNINGS:
            yield (
                f"bytes {first}-{end - 1} could not be read (a missing PV, or past the end "
                "of a truncated image); wrote zeros"
            )


def _is_null(st: os.stat_result) -> bool:
    """Whether ``st`` is the null device (what is written there is discarded)."""
    if not stat.S_ISCHR(st.st_mode):
        return False
    try:
        return os.stat(os.devnull).st_rdev == st.st_rdev
    except OSError:
        return False


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


#: how much of an LV one look for error and zero ranges covers at first; it doubles while
#: few ranges come back (a long run is then skipped in few steps) and halves while many
#: do (a striped LV on a missing PV has one per chunk)
_WINDOW = 64 << 20
_WINDOW_MAX = 1 << 63
_WINDOW_RANGES = 256


def copy_lv(src, output: Optional[str], partial: bool = False) -> Iterator[str]:
    """Copy the file object ``src`` (an opened LV) to ``output`` (a path) or stdout.

    In a regular output file, all-zero chunks are left as holes; to stdout (a pipe, a
    terminal, /dev/null) ranges that map straight onto an image go by ``sendfile``. With
    ``partial``, the ranges that map to errors (missing PVs, the missing end of a truncated
    image) are written as zeros and reported in yielded warnings, one per run of them, and
    the rest is read around them; without it the read error propagates. Ranges that
    map to ``zero`` are not read at all. A run of errors or zeros costs a seek in a
    regular file and nothing on /dev/null, whatever its length; to a pipe its zeros are
    written out.
    """
    from .dm import DMIOError

    size = src.size
    if output is None:
        fd, seekable = sys.stdout.buffer.fileno(), False
        sys.stdout.flush()
    else:
        try:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            raise LvmIOError(f"cannot write: {exc.strerror}", file=output) from None
    out_st = os.fstat(fd)
    # holes and the final ftruncate only in a regular file (not /dev/null, a FIFO, a tty)
    seekable = stat.S_ISREG(out_st.st_mode)
    discard = _is_null(out_st)
    progress = _Progress(size)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    zeros = memoryview(_ZERO)
    unread = _Unread()
    errors_of = getattr(src, "error_ranges", None) if partial else None
    zeros_of = getattr(src, "zero_ranges", None)

    def runs_of(at: int, length: int) -> list:
        """(offset, length, is an error) of the runs that need no reading, in order."""
        runs = [(o, k, False) for o, k in zeros_of(at, length)] if zeros_of else []
        if errors_of is not None:
            runs += [(o, k, True) for o, k in errors_of(at, length)]
        return sorted(runs)

    holes: list = []  # the runs from pos to win_end
    hi = 0
    win_end = 0
    window = _WINDOW
    pos = 0
    try:
        while pos < size:
            yield from unread.done_before(pos)
            stop = min(pos + CHUNK, size)
            if errors_of is not None or zeros_of is not None:
                if pos >= win_end:
                    win_end = pos + min(window, size - pos)
                    holes, hi = runs_of(pos, win_end - pos), 0
                    if len(holes) < _WINDOW_RANGES:
                        window = min(2 * window, _WINDOW_MAX)
                    else:
                        window = max(window // 2, CHUNK)
                while hi < len(holes) and holes[hi][0] + holes[hi][1] <= pos:
                    hi += 1
                if hi < len(holes) and holes[hi][0] <= pos:  # a run of errors or zeros
                    end = holes[hi][0] + holes[hi][1]
                    if holes[hi][2]:
                        unread.add(pos, end)
                    if seekable:
                        os.lseek(fd, end - pos, os.SEEK_CUR)
                    elif not discard:
                        for at in range(pos, end, CHUNK):
                            _write_all(fd, zeros[: min(CHUNK, end - at)])
                    pos = end
                    progress.update(pos)
                    continue
                stop = min(stop, holes[hi][0] if hi < len(holes) else win_end)
            n = stop - pos
            if not seekable and _sendfile(src, fd, pos, n):
                pos = stop
                progress.update(pos)
                continue
            chunk = view[:n]
            try:
                got = src.preadinto(chunk, pos)
                if got != n:
                    raise OSError(f"short read at offset {pos + (got or 0)}")
            except DMIOError:
                if not partial:
                    raise
                chunk[:] = _ZERO[:n]  # an error no mapping foretold: the whole chunk
                unread.add(pos, stop)
            if seekable and chunk == _ZERO[:n]:
                os.lseek(fd, n, os.SEEK_CUR)
            elif not discard:
                _write_all(fd, chunk)
            pos = stop
            progress.update(pos)
        yield from unread.finish()
        if seekable:
            os.ftruncate(fd, size)
        progress.finish()
    except DMIOError as exc:  # a read error without ``partial``: one line, not a traceback
        raise LvmIOError(f"cannot read the LV at byte {pos}: {exc}") from None
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise LvmIOError(
            f"cannot write the LV from byte {pos}: {exc.strerror or exc}", file=output or "<stdout>"
        ) from None
    finally:
        if output is not None:
            os.close(fd)
