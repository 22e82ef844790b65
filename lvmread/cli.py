"""The ``lvmread`` command line."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional

from .errors import AmbiguousNameError, LvmReadError, UsageError, summarise
from .report.printable import printable

PROG = "lvmread"


def _say(line: str) -> None:
    print(f"{PROG}: {printable(line)}", file=sys.stderr)


def _report_problems(ds, quiet: bool = False, lv_warnings: bool = False) -> int:
    if not quiet:
        for w in ds.warnings:
            _say(f"warning: {w}")
        if lv_warnings:
            about_lvs = [w for msgs in ds.lv_warnings.values() for w in msgs]
            for w in summarise(about_lvs, "and {n} more warnings about single LVs (table or "
                               "cat of an LV gives those about it)"):
                _say(f"warning: {w}")
    for e in ds.errors:
        _say(str(e))
    return 1 if ds.errors else 0


def _lv_report(ds, lv, quiet: bool) -> None:
    """Warnings about one LV and the sub-LVs it is built from (--seqno)."""
    if quiet or not ds.lv_warnings:
        return
    from .forensics.reuse import lv_closure

    for name in sorted(lv_closure(lv.vg, lv.name)):
        for w in ds.lv_warnings.get(lv.vg.lvs[name].uuid, []):
            _say(f"warning: {w}")


def _open(args: argparse.Namespace, vg: Optional[str] = None):
    from .vgread.scan import open_disks

    seqno = getattr(args, "seqno", None)
    vg = getattr(args, "vg", None) or (vg if seqno is not None else None)
    return open_disks(
        args.images, seqno=seqno, metadata=getattr(args, "metadata", None), vg=vg
    )


def _spec_vg(spec: str) -> Optional[str]:
    return spec.split("/", 1)[0] if "/" in spec else None


def cmd_ls(args: argparse.Namespace) -> int:
    from .report.lvs import full_report, table, write_json

    with _open(args) as ds:
        if args.json:
            write_json(full_report(ds.vgs), sys.stdout)
        elif ds.vgs:
            print(table(ds.vgs))
        return _report_problems(ds, args.quiet, lv_warnings=True)


class _Reported(Exception):
    """The command failed for reasons already printed: exit with ``status``, say nothing."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _find_lv(ds, spec: str, vg: Optional[str] = None):
    """The LV ``spec`` names (``VG/LV``, ``VGUUID/LV`` or an LV uuid; with ``--vg``, also a
    bare LV name in that VG)."""
    try:
        if vg is not None and "/" not in spec:
            return ds.vg(vg).lv(spec)
        return ds.lv(spec)
    except AmbiguousNameError:
        raise
    except UsageError as exc:
        if ds.errors and not ds.vgs:  # no VG at all: the errors that say why are printed
            raise _Reported(1) from None
        if ds.damaged:  # the VG may be on the inputs, its metadata unreadable: a fault, not usage
            _mda, fault = ds.damaged[0]
            raise LvmReadError(f"{exc.message}; damaged metadata: {fault}") from None
        raise


def cmd_table(args: argparse.Namespace) -> int:
    with _open(args, _spec_vg(args.lv)) as ds:
        status = _report_problems(ds, args.quiet)
        lv = _find_lv(ds, args.lv, args.vg)
        _lv_report(ds, lv, args.quiet)
        sys.stdout.write(lv.table(partial=args.partial, devno=args.devno))
        return status


def cmd_cat(args: argparse.Namespace) -> int:
    from .copy import check_output, copy_lv

    with _open(args, _spec_vg(args.lv)) as ds:
        status = _report_problems(ds, args.quiet)
        lv = _find_lv(ds, args.lv, args.vg)
        check_output(args.output, [*ds.inputs, *(v.source for v in ds.metadata_files)])
        _lv_report(ds, lv, args.quiet)
        with lv.open(partial=args.partial) as src:
            for warning in copy_lv(src, args.output, partial=args.partial):
                _say(f"warning: {warning}")
        return status


def _images(p: argparse.ArgumentParser, quiet: bool = True) -> None:
    """The IMAGE... arguments (and -q) every command that reads disks takes."""
    p.add_argument("images", nargs="+", metavar="IMAGE", help="disk image, PV image or device")
    if quiet:
        p.add_argument("-q", "--quiet", action="store_true", help="do not print warnings")


def _lv_command(sub, name: str, help_text: str):
    p = sub.add_parser(name, help=help_text)
    p.add_argument(
        "lv", metavar="VG/LV", help="the logical volume: VG/LV, VGUUID/LV or its LV uuid"
    )
    _images(p)
    p.add_argument(
        "--vg", metavar="VG", help="the LV's volume group (name or uuid); VG/LV may then be LV"
    )
    p.add_argument(
        "--partial",
        action="store_true",
        help="map ranges on missing PVs to I/O errors instead of refusing the LV",
    )
    _forensic_options(p)
    return p


def _seqno(text: str) -> int:
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a seqno: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"not a seqno: {text!r}")
    return n


def _metadata_option(p) -> None:
    p.add_argument(
        "--metadata",
        action="append",
        metavar="FILE",
        help="also read VG metadata from this backup or archive file (/etc/lvm/backup/VG, "
        "/etc/lvm/archive/*.vg), or from every file in a folder; repeatable",
    )


def _forensic_options(p, seqno: bool = True) -> None:
    if seqno:
        p.add_argument(
            "--seqno",
            type=_seqno,
            metavar="N",
            help="use version N of the VG's metadata (see `lvmread history`), not the newest",
        )
    _metadata_option(p)


def cmd_history(args: argparse.Namespace) -> int:
    from .vgread.history import History
    from .vgread.ring import scan_pvs
    from .vgread.scan import scan

    with scan(args.images) as ds:
        warnings: list[str] = list(ds.warnings)
        versions = scan_pvs(ds.pvs, warnings)
        if args.metadata:
            from .vgread.backup import read_metadata_files

            versions.extend(read_metadata_files(args.metadata, warnings))
        hist = History(versions).verify()
        warnings.extend(hist.disagreements())
        if args.vg is not None:
            uuids = set(hist.match_vg(args.vg))
            if not uuids:
                raise UsageError(f"no volume group {args.vg} in the metadata on the inputs")
            hist.versions = [v for v in hist.versions if v.vg_uuid in uuids]
        if args.seqno is not None:
            hist.versions = [v for v in hist.versions if v.seqno == args.seqno]
        problems = [f"{v.label}: {p}" for v in hist.versions for p in v.problems]
        warnings += summarise(
            problems, "and {n} more problems with the copies listed (--json gives each copy's)"
        )
        if args.save:
            from .copy import OutputGuard

            guard = OutputGuard([*ds.inputs, *(v.source for v in versions if v.kind != "disk")])
            _save_versions(hist.versions, args.save, guard)
        if args.json:
            import json

            json.dump([v.as_dict() for v in hist.versions], sys.stdout, indent=2)
            sys.stdout.write("\n")
        elif hist.versions:
            print(_history_table(hist.versions))
        if not args.quiet:
            for w in warnings:
                _say(f"warning: {w}")
        for e in ds.errors:
            _say(str(e))
        if not hist.versions and not ds.errors:
            _say("no metadata text found on the inputs")
            return 1
        return 1 if ds.errors else 0


def _save_versions(versions, folder: str, guard) -> None:
    """Write each copy found on disk to its own file (never over an existing one), after
    ``guard`` (an :class:`~lvmread.copy.OutputGuard`) has found the folder, and each file,
    off the inputs' storage."""
    import os

    guard.check(folder, folder=True)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:  # a file of that name (an input?), no permission
        raise LvmReadError(f"cannot make the folder: {exc.strerror}", file=folder) from None
    n = 0
    used: dict[str, int] = {}
    for v in versions:
        if v.kind != "disk":
            continue
        pv = os.path.basename(v.pv_name or v.source).replace("@", "_")
        stem = f"{v.vg_name or 'unknown'}-seqno{'?' if v.seqno is None else v.seqno}-{pv}" \
               f"-mda{v.mda_index}-{v.offset}"
        # two inputs of one base name (a/disk.img, b/disk.img), two VGs of one name: the
        # same stem for different copies; later ones get ~2, ~3...
        used[stem] = used.get(stem, 0) + 1
        if used[stem] > 1:
            stem += f"~{used[stem]}"
        name = stem + ".vg" + ("" if v.complete else ".partial")
        path = os.path.join(folder, name)
        guard.check(path)
        try:
            with open(path, "xb") as f:
                f.write(v.data.split(b"\0", 1)[0])
        except FileExistsError:
            raise UsageError(f"{path}: exists; not overwritten") from None
        except OSError as exc:
            raise LvmReadError(f"cannot write: {exc.strerror}", file=path) from None
        n += 1
    _say(f"saved {n} cop{'y' if n == 1 else 'ies'} of the metadata text to {folder}")


def _history_table(versions) -> str:
    from .report.lvs import format_time

    head = ("SEQNO", "VG", "CREATED", "PV", "MDA", "OFFSET", "LENGTH", "CHECKSUM", "STATE",
            "DESCRIPTION")
    rows = [head]
    for v in versions:
        rows.append(tuple(printable(c) for c in (
            "?" if v.seqno is None else str(v.seqno),
            v.vg_name or "?",
            format_time(v.creation_time) or "-",
            v.pv_name or v.source,
            "-" if v.mda_index is None else str(v.mda_index),
            "-" if v.offset is None else str(v.offset),
            "?" if v.length is None else str(v.length),
            f"{v.checksum:#010x}",
            v.state,
            v.description or "",
        )))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    right = {0, 4, 5, 6}
    out = []
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in
                 enumerate(zip(r, widths))]
        out.append("  ".join(cells + [r[-1]]).rstrip())
    return "\n".join(out)


def cmd_diff(args: argparse.Namespace) -> int:
    from .forensics.diff import diff_versions, format_diff
    from .vgread.scan import scan

    with scan(args.images) as ds:
        if args.metadata:
            from .vgread.backup import read_metadata_files

            ds.metadata_files = read_metadata_files(args.metadata, ds.warnings)
        if not ds.pvs and not ds.metadata_files and ds.errors:
            raise ds.errors[0]
        results = diff_versions(ds, args.seq_from, args.seq_to, args.vg)
        if args.json:
            import json

            json.dump(results, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            print("\n\n".join(format_diff(d) for d in results))
        return _report_problems(ds, args.quiet)


def cmd_dump(args: argparse.Namespace) -> int:
    from .ondisk.dump import dump_input, format_dump

    results = []
    status = 0
    for path in args.images:
        try:
            results.append(dump_input(path))
        except LvmReadError as exc:
            _say(str(exc))
            status = 1
    if args.json:
        import json

        for r in results:
            for pv in r["pvs"]:
                pv.pop("lines", None)
        json.dump({"inputs": results}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print("\n".join(format_dump(r) for r in results))
    for r in results:
        for w in r["warnings"]:
            _say(f"warning: {w}")
    if any(not pv["ok"] for r in results for pv in r["pvs"]):
        _say("found bad header or metadata values (see the CHECK lines)")
        status = 1
    return status


def _add_ls(sub) -> None:
    ls = sub.add_parser("ls", help="list the VGs and LVs on the images (like lvs -a)")
    _images(ls)
    ls.add_argument("--json", action="store_true", help="lvm2 fullreport JSON (sizes in bytes)")
    ls.add_argument("--vg", metavar="VG", help="only this volume group (name or uuid)")
    _forensic_options(ls)
    ls.set_defaults(func=cmd_ls)


def _add_table(sub) -> None:
    tb = _lv_command(sub, "table", "print the device-mapper table of an LV (like dmsetup table)")
    tb.add_argument(
        "--devno",
        action="store_true",
        help="name devices by major:minor, as a kernel needs (block devices, or images with "
        "a loop device attached)",
    )
    tb.set_defaults(func=cmd_table)


def _add_cat(sub) -> None:
    cat = _lv_command(sub, "cat", "write the bytes of an LV to stdout or a file")
    cat.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (all-zero chunks become holes)"
    )
    cat.set_defaults(func=cmd_cat)


def _add_history(sub) -> None:
    hi = sub.add_parser(
        "history",
        help="list every version of the metadata left on the images (like pvck --dump "
        "metadata_all)",
    )
    _images(hi)
    hi.add_argument("--json", action="store_true", help="a JSON array, one object per copy")
    hi.add_argument("--vg", metavar="VG", help="only this volume group (name or uuid)")
    hi.add_argument("--seqno", type=_seqno, metavar="N", help="only the copies of seqno N")
    hi.add_argument(
        "--save",
        metavar="DIR",
        help="also write each copy's text to its own file in DIR (VG-seqnoN-PV-mdaI-OFFSET.vg, "
        "~2, ~3... added where copies would share a name; '.partial' for incomplete ones); "
        "they can be given back with --metadata",
    )
    _metadata_option(hi)
    hi.set_defaults(func=cmd_history)


def _add_diff(sub) -> None:
    di = sub.add_parser(
        "diff", help="LVs created, removed, renamed and resized between two metadata versions"
    )
    _images(di)
    di.add_argument("--from", dest="seq_from", type=_seqno, required=True, metavar="N",
                    help="the older version (seqno)")
    di.add_argument("--to", dest="seq_to", type=_seqno, metavar="M",
                    help="the newer version (seqno; default: the newest)")
    di.add_argument("--vg", metavar="VG", help="only this volume group (name or uuid)")
    di.add_argument("--json", action="store_true", help="JSON output")
    _metadata_option(di)
    di.set_defaults(func=cmd_diff)


def _add_dump(sub) -> None:
    du = sub.add_parser(
        "dump",
        help="print every field of the label, pv_header, extension and mda headers with "
        "checksums checked (like pvck --dump headers)",
    )
    _images(du, quiet=False)
    du.add_argument("--json", action="store_true", help="JSON: every field with its offset")
    du.set_defaults(func=cmd_dump)


#: the subcommands, in the order help lists them
COMMANDS = {
    "ls": _add_ls,
    "table": _add_table,
    "cat": _add_cat,
    "history": _add_history,
    "diff": _add_diff,
    "dump": _add_dump,
}


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """The argument parser; with ``only``, one of :data:`COMMANDS`, that subcommand alone
    (argparse spends milliseconds on every subcommand it sets up)."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Read LVM2 volumes from disks and disk images, read-only, without lvm2.",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, add in COMMANDS.items():
        if only is None or name == only:
            add(sub)
    return p


def main(argv: Optional[list[str]] = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    # The command is the first word that is not an option (--debug is the only option
    # before it, and takes no value); help and mistakes get the whole parser.
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except _Reported as done:
        return done.status
    except UsageError as exc:
        if args.debug:
            raise
        _say(str(exc))
        return 2
    except LvmReadError as exc:
        if args.debug:
            raise
        _say(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:  # inputs fail as LvmReadError: mostly the output (a full disk)
        if args.debug:
            raise
        if exc.filename is not None:
            _say(f"{exc.filename}: {exc.strerror or exc}")
        else:
            _say(f"cannot write the output: {exc.strerror or exc}")
        return 1


def run() -> None:
    """The ``lvmread`` command: :func:`main`, then exit without the interpreter's teardown.

    A command is short-lived, so the cyclic garbage collector runs less often (at most
    one collection per 20,000 new objects instead of per 700), and the process ends
    with ``os._exit`` once the output is flushed: freeing every module object at exit
    costs about 8 ms, a tenth of a whole ``lvmread table``. With coverage measuring
    (it writes its data at exit) the exit is the normal one.
    """
    import gc
    import os

    gc.set_threshold(20_000, 10, 10)
    status = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        status = status or 1
    except OSError as exc:
        _say(f"cannot write the output: {exc.strerror}")
        status = status or 1
    try:
        sys.stderr.flush()
    except OSError:
        pass
    if "coverage" in sys.modules:
        sys.exit(status)
    os._exit(status)


if __name__ == "__main__":
    run()
