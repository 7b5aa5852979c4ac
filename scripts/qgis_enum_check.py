"""QGIS's own enums in their scoped form (``make lint``).

  python scripts/qgis_enum_check.py mrife_qgis tests ...        report, exit 1 on any finding
  python scripts/qgis_enum_check.py --fix mrife_qgis tests ...  rewrite them in place

QGIS 4 (Qt6 / PyQt6) still accepts ``Qgis.Info`` or ``QgsTask.CanCancel`` with a deprecation
warning; the scoped forms (``Qgis.MessageLevel.Info``, ``QgsTask.Flag.CanCancel``) are what
PyQt6 names them. The check asks the QGIS it runs in: for every ``QgsX.Member`` (or
``Qgis.Member``) in the code whose value is a member of an enum, it names the enum through an
attribute of the same class, so the scoped form is one that class has. Every form written this
way on 2026-11-22 was checked to exist and to be equal to the unscoped one on QGIS 3.22.16 (the
oldest supported) and 3.40.6.
"""

from __future__ import annotations

import argparse
import ast
import enum
import sys
from pathlib import Path

import qgis.core
import qgis.gui

MODULES = (qgis.core, qgis.gui)


def _class(name: str):
    for module in MODULES:
        if hasattr(module, name):
            return getattr(module, name)
    return None


def _enum_type(value):
    """The enum type of ``value``, or None when it is not an enum member (sip enums and
    Python ``enum`` members both count)."""
    if isinstance(value, type) or isinstance(value, bool):
        return None
    kind = type(value)
    if isinstance(value, enum.Enum) or type(kind).__name__ in ("enumtype", "EnumType"):
        return kind
    return None


def _attribute_for(cls, kind) -> str | None:
    for name in dir(cls):
        try:
            if getattr(cls, name) is kind:
                return name
        except Exception:  # noqa: BLE001 - some attributes cannot be read on the class
            continue
    return None


def findings(path: Path) -> list[tuple[int, int, int, str, str]]:
    """(line, start byte, end byte, unscoped, scoped) for each unscoped QGIS enum in ``path``."""
    source = path.read_bytes()
    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
            continue
        owner, member = node.value.id, node.attr
        if not (owner == "Qgis" or owner.startswith("Qgs")):
            continue
        cls = _class(owner)
        if cls is None or not hasattr(cls, member):
            continue
        kind = _enum_type(getattr(cls, member))
        if kind is None:
            continue
        scope = _attribute_for(cls, kind)
        if scope is None or scope == member:
            continue
        found.append((node.lineno, node.col_offset, node.end_col_offset, f"{owner}.{member}",
                      f"{owner}.{scope}.{member}"))
    return found


def fix(path: Path, found) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    for line, start, end, _old, new in sorted(found, reverse=True):
        text = lines[line - 1]
        lines[line - 1] = text[:start] + new.encode() + text[end:]
    path.write_bytes(b"".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fix", action="store_true")
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args(argv)
    total = 0
    for root in args.paths:
        files = [Path(root)] if root.endswith(".py") else sorted(Path(root).rglob("*.py"))
        for path in files:
            found = findings(path)
            total += len(found)
            if args.fix and found:
                fix(path, found)
            for line, _s, _e, old, new in found:
                print(f"{path}:{line}: {old} -> {new}")
    verb = "rewritten" if args.fix else "finding(s)"
    print(f"QGIS enum check (QGIS {qgis.core.Qgis.QGIS_VERSION}): {total} {verb}")
    return 1 if total and not args.fix else 0


if __name__ == "__main__":
    sys.exit(main())
