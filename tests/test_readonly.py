"""The read-only guarantee: lvmread never opens an input for writing, on any code path.

(a) In-process: ``os.open``, ``builtins.open``/``io.open``, ``os.fdopen``, ``mmap.mmap`` and
    the calls that change a file (``os.write``, ``os.pwrite``, ``os.ftruncate``,
    ``os.truncate``) are wrapped while every CLI command (every subcommand
    ``lvmread.cli.build_parser()`` knows, with each of its options: new commands are
    covered automatically) and the library API run on fixture images; any open of an input
    with ``O_WRONLY``/``O_RDWR``/``O_CREAT``/``O_TRUNC``/``O_APPEND`` or a write mode, any
    writable mapping of one, any write to a descriptor of one fails the test.
(b) As processes: the images are hashed, every command runs on them (error paths,
    ``--partial``, ``--seqno``, ``--json``, ``cat -o`` to another folder and onto an input
    itself, ``history --save``), and the hashes must not change; an image made read-only
    (mode 0444) is read as before.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import hashlib
import io
import mmap
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import lvmread
from lvmread.cli import build_parser, main

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

# Fixture folders whose images together cover whole-disk PVs, MBR and GPT partitions,
# two-PV VGs, a PV without metadata, two metadata areas and a long metadata history.
SETS = ["single", "mbr", "gpt", "twopv", "nomda", "mda2", "oracle/history"]


# ------------------------------------------------------------------ the images


@pytest.fixture(scope="module")
def env(fixture_images, tmp_path_factory):
    """Private copies of the images, a metadata file, the names to ask for."""
    base = tmp_path_factory.mktemp("readonly")
    inputs = base / "inputs"
    inputs.mkdir()
    images = []
    for rel in SETS:
        for img in fixture_images.images(rel):
            dest = inputs / f"{rel.replace('/', '_')}_{img.name}"
            shutil.copyfile(img, dest)
            images.append(str(dest))
    broken = inputs / "broken.img"  # a label whose sector is zeroed: an error path
    shutil.copyfile(fixture_images.images("single")[0], broken)
    with open(broken, "r+b") as f:
        f.seek(512)
        f.write(bytes(512))
    with lvmread.open(images) as ds:
        lvs = [f"{vg.name}/{lv.name}" for vg in ds for lv in vg.lvs.values()]
        seqnos = {}
        from lvmread.vgread.history import History

        hist = History.of(ds).verify()
        for v in hist.versions:
            if v.usable and v.vg_name == "vg_history":
                seqnos.setdefault(v.seqno, v)
        text = next(iter(ds.vgs)).sources[0].text.data.rstrip(b"\0")
    meta = inputs / "backup.vg"
    meta.write_bytes(text)
    out = base / "out"
    out.mkdir()
    return {
        "base": base,
        "images": images,
        "broken": str(broken),
        "lvs": lvs,
        "history_lv": next(s for s in lvs if s.startswith("vg_history/")),
        "seqnos": sorted(seqnos),
        "metadata": str(meta),
        "out": out,
        "inputs": images + [str(broken), str(meta)],
    }


def _subcommands() -> dict:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("lvmread.cli.build_parser() has no subcommands")


def _value(action, env, images: list[str], n: int) -> str | None:
    """A value for an option, by what it is for; None to leave the option out."""
    dest = action.dest
    seqnos = env["seqnos"]
    if dest in ("seqno", "seq_from"):
        return str(seqnos[len(seqnos) // 3])
    if dest == "seq_to":
        return str(seqnos[-2])
    if dest == "vg":
        return "vg_history"
    if dest == "metadata":
        return env["metadata"]
    if dest in ("output", "save"):  # outputs go to their own folder, one per run
        return str(env["out"] / f"{action.dest}{n}")
    if action.type is not None:
        for guess in ("1", "0", "x"):
            try:
                action.type(guess)
                return guess
            except (argparse.ArgumentTypeError, TypeError, ValueError):
                continue
        return None
    # an option this test does not know yet: a path in the output folder, if it writes
    return str(env["out"] / f"{action.dest}{n}")


def command_lines(env, images: list[str] | None = None, options: bool = True) -> list[list[str]]:
    """Every subcommand with its required arguments, then (``options``) once more with each
    of its options (``os.sendfile``, ``os.write`` and the like are checked on their output
    descriptor only)."""
    images = env["images"] if images is None else images
    runs: list[list[str]] = []
    n = 0
    for name, sub in _subcommands().items():
        positional = [a for a in sub._actions if not a.option_strings]
        required = [a for a in sub._actions if a.option_strings and a.required]
        optional = [a for a in sub._actions if a.option_strings and not a.required
                    and a.dest != "help"]
        argv = [name]
        for a in positional:
            if a.dest == "lv":
                argv.append(env["history_lv"])
            elif a.dest == "images":
                argv.extend(images)
            else:
                pytest.fail(f"lvmread {name}: positional argument {a.dest!r} unknown to this "
                            "test; teach test_readonly.py what to give it")
        for a in required:
            n += 1
            argv += [a.option_strings[0], _value(a, env, images, n) or "1"]
        runs.append(argv)
        if not options:
            continue
        for a in optional:
            n += 1
            if a.nargs == 0:  # a flag
                runs.append(argv + [a.option_strings[0]])
                continue
            val = _value(a, env, images, n)
            if val is not None:
                runs.append(argv + [a.option_strings[0], val])
    return runs


def error_lines(env) -> list[list[str]]:
    """Commands meant to fail: bad inputs, unknown names, outputs onto inputs."""
    first, broken, imgs = env["images"][0], env["broken"], env["images"]
    lv = env["history_lv"]
    out = [
        ["ls", broken], ["ls", str(env["out"])], ["ls", str(env["out"] / "missing.img")],
        ["ls", *imgs, "--seqno", "999999"], ["ls", *imgs, "--vg", "novg"],
        ["table", "vg_history/nolv", *imgs], ["table", "novg/x", first],
        ["cat", lv, broken], ["cat", "novg/x", *imgs, "-o", str(env["out"] / "x")],
        ["cat", lv, *imgs, "-o", imgs[0]],  # onto an input: refused
        ["cat", lv, *imgs, "--metadata", env["metadata"], "-o", env["metadata"]],
        ["cat", lv, *imgs, "-o", str(env["out"] / "no" / "such" / "dir")],
        ["history", broken], ["dump", broken], ["dump", str(env["out"] / "missing.img")],
        ["diff", *imgs, "--from", "999999"],
        ["ls", *imgs, "--metadata", first],  # an image given as a metadata file
        ["ls", *imgs, "--metadata", str(env["out"] / "missing.vg")],
        ["history", *imgs, "--save", imgs[0]],  # a save folder that is an input file
    ]
    return [a for a in out if a[0] in _subcommands()]


# ------------------------------------------------------------ (a) in-process guard


class Guard:
    """Records every open, mapping and write that could change an input."""

    def __init__(self, inputs: list[str]) -> None:
        self.paths = {os.path.realpath(p) for p in inputs}
        self.ids = set()
        for p in inputs:
            st = os.stat(p)
            self.ids.add((st.st_dev, st.st_ino))
        self.fds: set[int] = set()
        self.violations: list[str] = []
        self.input_opens = 0

    def is_input(self, target) -> bool:
        try:
            if isinstance(target, int):
                st = os.fstat(target)
            else:
                path = os.fspath(target)
                if isinstance(path, bytes):
                    path = os.fsdecode(path)
                if os.path.realpath(path) in self.paths:
                    return True
                st = os.stat(path)
        except (OSError, TypeError, ValueError):
            return False
        return (st.st_dev, st.st_ino) in self.ids

    def install(self, mp: pytest.MonkeyPatch) -> None:
        real_open, real_os_open, real_fdopen = builtins.open, os.open, os.fdopen
        real_mmap = mmap.mmap
        guard = self

        def os_open(path, flags, mode=0o777, *, dir_fd=None):
            is_in = guard.is_input(path)
            if is_in:
                guard.input_opens += 1
                if flags & WRITE_FLAGS:
                    guard.violations.append(f"os.open({path!r}, {flags:#o})")
            fd = real_os_open(path, flags, mode, dir_fd=dir_fd)
            if is_in:
                guard.fds.add(fd)
            return fd

        def py_open(file, mode="r", *args, **kwargs):
            if not isinstance(file, int) and guard.is_input(file):
                guard.input_opens += 1
                if set(mode) & set("wax+"):
                    guard.violations.append(f"open({file!r}, {mode!r})")
            elif isinstance(file, int) and (file in guard.fds or guard.is_input(file)):
                if set(mode) & set("wax+"):
                    guard.violations.append(f"open(fd {file} of an input, {mode!r})")
            return real_open(file, mode, *args, **kwargs)

        def fdopen(fd, mode="r", *args, **kwargs):
            if (fd in guard.fds or guard.is_input(fd)) and set(mode) & set("wax+"):
                guard.violations.append(f"os.fdopen(fd {fd} of an input, {mode!r})")
            return real_fdopen(fd, mode, *args, **kwargs)

        def guarded_mmap(fileno, length, *args, **kwargs):
            if fileno >= 0 and (fileno in guard.fds or guard.is_input(fileno)):
                access = kwargs.get("access", mmap.ACCESS_DEFAULT)
                prot = kwargs.get("prot", mmap.PROT_READ | mmap.PROT_WRITE)
                if len(args) >= 2:
                    prot = args[1]
                if access == mmap.ACCESS_WRITE or (access == mmap.ACCESS_DEFAULT
                                                   and prot & mmap.PROT_WRITE):
                    guard.violations.append(f"mmap(fd {fileno} of an input, writable)")
            return real_mmap(fileno, length, *args, **kwargs)

        def wrap_fd_call(name):
            real = getattr(os, name)

            def call(fd, *args, **kwargs):
                if isinstance(fd, int) and (fd in guard.fds or guard.is_input(fd)):
                    guard.violations.append(f"os.{name}(fd {fd} of an input)")
                return real(fd, *args, **kwargs)

            mp.setattr(os, name, call)

        def truncate(path, length):
            if guard.is_input(path):
                guard.violations.append(f"os.truncate({path!r})")
            return real_truncate(path, length)

        real_truncate = os.truncate
        mp.setattr(os, "open", os_open)
        mp.setattr(builtins, "open", py_open)
        mp.setattr(io, "open", py_open)
        mp.setattr(os, "fdopen", fdopen)
        mp.setattr(mmap, "mmap", guarded_mmap)
        mp.setattr(os, "truncate", truncate)
        for name in ("write", "pwrite", "writev", "pwritev", "ftruncate", "sendfile"):
            if hasattr(os, name):
                wrap_fd_call(name)


def _run_main(argv: list[str], out_dir: Path) -> tuple[int, str]:
    """lvmread.cli.main in-process, stdout to a real file (``cat`` writes to its fd)."""
    err = io.StringIO()
    with open(out_dir / "stdout", "w") as out:
        stdout = sys.stdout
        sys.stdout = out
        try:
            with contextlib.redirect_stderr(err):
                rc = main(argv)
        except SystemExit as exc:  # argparse: a usage error
            rc = exc.code if isinstance(exc.code, int) else 2
        finally:
            sys.stdout = stdout
    return rc, err.getvalue()


def test_every_command_opens_inputs_read_only(env, monkeypatch):
    guard = Guard(env["inputs"])
    runs = command_lines(env) + error_lines(env)
    guard.install(monkeypatch)
    results = []
    for argv in runs:
        rc, err = _run_main(argv, env["out"])
        results.append((argv, rc, err))
    monkeypatch.undo()
    assert not guard.violations, guard.violations
    assert guard.input_opens >= len(runs)  # the wrappers did see the inputs being opened
    for argv, rc, err in results:
        assert rc in (0, 1, 2), (argv, rc, err)
        assert all(line.startswith("lvmread: ") for line in err.splitlines()), (argv, err)
    refused = [r for r in results if "-o" in r[0] and r[0][r[0].index("-o") + 1] in env["inputs"]]
    assert len(refused) == 2
    for argv, rc, err in refused:
        assert rc == 2 and "never writes to its inputs" in err, (argv, rc, err)


def test_library_api_opens_inputs_read_only(env, monkeypatch):
    from lvmread.ondisk.dump import dump_input
    from lvmread.report.lvs import full_report, table
    from lvmread.vgread.history import History

    guard = Guard(env["inputs"])
    guard.install(monkeypatch)
    with lvmread.open(env["images"]) as ds:
        full_report(ds.vgs)
        table(ds.vgs)
        History.of(ds).verify()
        for vg in ds:
            for lv in vg.lvs.values():
                with contextlib.suppress(lvmread.LvmReadError):
                    lv.table(partial=True)
                try:
                    f = lv.open(partial=True)
                except lvmread.LvmReadError:
                    continue
                with f:
                    with contextlib.suppress(OSError):
                        f.read(1 << 16)
                        f.seek(max(0, f.size - 4096))
                        f.read()
    for img in env["images"]:
        dump_input(img)
    monkeypatch.undo()
    assert not guard.violations, guard.violations
    assert guard.input_opens >= len(env["images"])


def test_guard_catches_a_write_open(env, monkeypatch, tmp_path):
    """The guard itself works: opening an input for writing is seen (and undone)."""
    victim = tmp_path / "victim.img"
    shutil.copyfile(env["images"][0], victim)
    guard = Guard([str(victim)])
    guard.install(monkeypatch)
    os.close(os.open(victim, os.O_RDONLY))
    os.close(os.open(victim, os.O_RDWR))
    with open(victim, "ab"):
        pass
    with open(victim, "rb") as f:
        mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ).close()
        with contextlib.suppress(PermissionError, OSError):
            mmap.mmap(f.fileno(), 0).close()
    monkeypatch.undo()
    assert len(guard.violations) == 3, guard.violations


# ------------------------------------------------------- (b) hashes, as processes


def _sha(paths: list[str]) -> dict[str, str]:
    out = {}
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        st = os.stat(p)
        out[p] = f"{h.hexdigest()} {st.st_size} {st.st_mtime_ns}"
    return out


def _cli(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "lvmread.cli", *argv], capture_output=True,
                          cwd=cwd, env=env, timeout=300, check=False)


@pytest.fixture(scope="module")
def proc_env(env, tmp_path_factory):
    """A second set of copies (the in-process tests use the first), and its outputs."""
    base = tmp_path_factory.mktemp("readonly-proc")
    inputs = base / "inputs"
    inputs.mkdir()
    mapping = {}
    for p in env["inputs"]:
        dest = inputs / Path(p).name
        shutil.copyfile(p, dest)
        mapping[p] = str(dest)
    out = base / "out"
    out.mkdir()
    e = dict(env)
    e.update(images=[mapping[p] for p in env["images"]], broken=mapping[env["broken"]],
             metadata=mapping[env["metadata"]], inputs=list(mapping.values()), out=out,
             base=base)
    return e


def test_hashes_unchanged_by_every_command(proc_env):
    e = proc_env
    # processes are slow to start: every command with each option on the history image
    # alone, and the full set of images once per command
    hist = [p for p in e["images"] if "history" in Path(p).name]
    runs = command_lines(e, hist) + command_lines(e, options=False) + error_lines(e)
    before = _sha(e["inputs"])
    failures = []
    for argv in runs:
        cp = _cli(argv, e["out"])
        if cp.returncode not in (0, 1, 2) or b"Traceback" in cp.stderr:
            failures.append((argv, cp.returncode, cp.stderr.decode(errors="replace")[-800:]))
    after = _sha(e["inputs"])
    changed = [p for p in before if before[p] != after[p]]
    assert not changed, changed
    assert not failures, failures
    # outputs went where they were asked to go, and only there
    assert any(e["out"].iterdir())


def test_read_only_image_still_works(proc_env, tmp_path):
    src = Path(proc_env["images"][0])
    img = tmp_path / "ro.img"
    shutil.copyfile(src, img)
    os.chmod(img, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    before = _sha([str(img)])
    try:
        ls = _cli(["ls", "--json", str(img)], tmp_path)
        assert ls.returncode == 0, ls.stderr
        import json

        report = json.loads(ls.stdout)
        lvs = [f"{r['vg_name']}/{r['lv_name']}" for rep in report["report"] for r in rep["lv"]]
        assert lvs
        table = _cli(["table", lvs[0], str(img)], tmp_path)
        assert table.returncode == 0, table.stderr
        out = tmp_path / "lv.out"
        cat = _cli(["cat", lvs[0], str(img), "-o", str(out)], tmp_path)
        assert cat.returncode == 0, cat.stderr
        direct = _cli(["cat", lvs[0], str(src)], tmp_path)
        assert out.read_bytes() == direct.stdout
        for argv in (["dump", str(img)], ["history", str(img)]):
            if argv[0] in _subcommands():
                assert _cli(argv, tmp_path).returncode == 0
    finally:
        os.chmod(img, 0o644)
    assert _sha([str(img)]) == before
