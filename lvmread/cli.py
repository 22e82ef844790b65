"""The ``lvmread`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Optional

from .errors import LvmReadError, UsageError

PROG = "lvmread"


def _say(line: str) -> None:
    print(f"{PROG}: {line}", file=sys.stderr)


def _report_problems(ds, quiet: bool = False) -> int:
    if not quiet:
        for w in ds.warnings:
            _say(f"warning: {w}")
    for e in ds.errors:
        _say(str(e))
    return 1 if ds.errors else 0


def cmd_ls(args: argparse.Namespace) -> int:
    from .report import full_report, table
    from .scan import open_disks

    with open_disks(args.images) as ds:
        if args.json:
            json.dump(full_report(ds.vgs), sys.stdout, indent=2)
            sys.stdout.write("\n")
        elif ds.vgs:
            print(table(ds.vgs))
        return _report_problems(ds, args.quiet)


def _find_lv(ds, spec: str):
    try:
        return ds.lv(spec)
    except UsageError:
        if ds.errors and not ds.vgs:
            raise ds.errors[0] from None
        raise


def cmd_table(args: argparse.Namespace) -> int:
    from .scan import open_disks

    with open_disks(args.images) as ds:
        status = _report_problems(ds, args.quiet)
        lv = _find_lv(ds, args.lv)
        sys.stdout.write(lv.table(partial=args.partial))
        return status


def cmd_cat(args: argparse.Namespace) -> int:
    from .copy import copy_lv
    from .scan import open_disks

    with open_disks(args.images) as ds:
        status = _report_problems(ds, args.quiet)
        lv = _find_lv(ds, args.lv)
        with lv.open(partial=args.partial) as src:
            for warning in copy_lv(src, args.output, partial=args.partial):
                _say(f"warning: {warning}")
        return status


def _lv_command(sub, name: str, help_text: str):
    p = sub.add_parser(name, help=help_text)
    p.add_argument("lv", metavar="VG/LV", help="the logical volume: VG/LV or its LV uuid")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="disk image, PV image or device")
    p.add_argument(
        "--partial",
        action="store_true",
        help="map ranges on missing PVs to I/O errors instead of refusing the LV",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="do not print warnings")
    return p


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Read LVM2 volumes from disks and disk images, read-only, without lvm2.",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    ls = sub.add_parser("ls", help="list the VGs and LVs on the images (like lvs -a)")
    ls.add_argument("images", nargs="+", metavar="IMAGE", help="disk image, PV image or device")
    ls.add_argument("--json", action="store_true", help="lvm2 fullreport JSON (sizes in bytes)")
    ls.add_argument("-q", "--quiet", action="store_true", help="do not print warnings")
    ls.set_defaults(func=cmd_ls)

    tb = _lv_command(sub, "table", "print the device-mapper table of an LV (like dmsetup table)")
    tb.set_defaults(func=cmd_table)

    cat = _lv_command(sub, "cat", "write the bytes of an LV to stdout or a file")
    cat.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (all-zero chunks become holes)"
    )
    cat.set_defaults(func=cmd_cat)
    return p


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
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


if __name__ == "__main__":
    sys.exit(main())
