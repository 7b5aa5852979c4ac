"""Command line: ``python -m backend <command> ...``. Bad arguments give a one-line error."""

from __future__ import annotations

import argparse
import sys


def _cmd_devices(args: argparse.Namespace) -> int:
    from .devices import list_devices, resolve_device

    for dev in list_devices():
        print(dev.label)
    print(f"auto -> {resolve_device('auto').label}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m backend",
        description="MRIFE relic-landslide networks without QGIS: train, evaluate, detect.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("devices", help="list the devices torch can use here")
    p.set_defaults(func=_cmd_devices)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
