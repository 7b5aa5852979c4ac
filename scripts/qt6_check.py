"""Qt6 check for `make lint`: code that PyQt6 (QGIS 4) cannot run.

PyQt6 drops the unscoped enum members PyQt5 offered (``Qt.RightDockWidgetArea`` must be
``Qt.DockWidgetArea.RightDockWidgetArea``; both forms work on PyQt5 5.15) and some Qt5-only
calls (``QFontMetrics.width``: use ``horizontalAdvance``; ``exec_``: use ``exec``). The enums
come from PyQt6's own type stubs:

    python scripts/qt6_check.py --index-from PyQt6-6.7.1-...whl   # writes scripts/qt6_enums.json
    python scripts/qt6_check.py mrife_qgis tests scripts          # the check (make lint)

The index is committed (make lint needs no network); ``make qt6-index`` rebuilds it from the
PyQt6 wheel on PyPI. Exit status 1 with one line per finding, 0 when the code is clean.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INDEX = Path(__file__).with_name("qt6_enums.json")
MODULES = ("QtCore", "QtGui", "QtWidgets", "QtNetwork", "QtSvg", "QtXml", "QtPrintSupport")
# Qt5-only calls, by method name and a test on the text of the expression it is called on
# ("{metrics}": a font-metrics expression, or a name assigned from one in the same file)
METRICS = re.compile(r"fontMetrics\(|QFontMetrics")
REMOVED_CALLS = {
    "width": ("{metrics}", "QFontMetrics.width() is gone in Qt6: use horizontalAdvance()"),
    "exec_": (re.compile(r"."), "exec_() is gone in PyQt6: use exec()"),
}
REMOVED_NAMES = {"QRegExp": "QRegularExpression", "QDesktopWidget": "QScreen (QGuiApplication)"}


def build_index(wheel: Path) -> dict:
    """{class: {member: enum}} for the nested enums of every class in MODULES' stubs."""
    index: dict[str, dict[str, str]] = {}
    attrs: dict[str, list[str]] = {}
    with zipfile.ZipFile(wheel) as zf:
        for mod in MODULES:
            try:
                text = zf.read(f"PyQt6/{mod}.pyi").decode("utf-8")
            except KeyError:
                continue
            tree = ast.parse(text)
            for node in tree.body:
                if not isinstance(node, ast.ClassDef):
                    continue
                members = index.setdefault(node.name, {})
                own = set(attrs.get(node.name, []))
                for item in node.body:
                    if isinstance(item, ast.ClassDef):
                        own.add(item.name)
                        for sub in item.body:
                            if isinstance(sub, ast.Assign | ast.AnnAssign):
                                targets = sub.targets if isinstance(sub, ast.Assign) \
                                    else [sub.target]
                                for t in targets:
                                    if isinstance(t, ast.Name):
                                        members.setdefault(t.id, item.name)
                    elif isinstance(item, ast.FunctionDef):
                        own.add(item.name)
                    elif isinstance(item, ast.Assign):
                        own.update(t.id for t in item.targets if isinstance(t, ast.Name))
                attrs[node.name] = sorted(own)
    # a member that is also a direct attribute of the class is not an unscoped use
    index = {c: {m: e for m, e in ms.items() if m not in set(attrs.get(c, []))}
             for c, ms in index.items()}
    return {"source": wheel.name, "enums": {c: ms for c, ms in sorted(index.items()) if ms}}


def findings(paths: list[Path], index: dict) -> list[str]:
    enums = index["enums"]
    out = []
    files = [p for path in paths
             for p in ([path] if path.is_file() else sorted(path.rglob("*.py")))]
    for f in files:
        if f.resolve() == Path(__file__).resolve():
            continue
        text = f.read_text(encoding="utf-8")
        try:
            tree = ast.parse(text)
        except SyntaxError as exc:
            out.append(f"{f}:{exc.lineno}: cannot parse: {exc.msg}")
            continue
        metrics = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
                   and METRICS.search(ast.get_source_segment(text, node.value) or "")
                   for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                cls, member = node.value.id, node.attr
                enum = enums.get(cls, {}).get(member)
                if enum:
                    out.append(f"{f}:{node.lineno}: {cls}.{member} is unscoped; PyQt6 needs "
                               f"{cls}.{enum}.{member}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                rule = REMOVED_CALLS.get(node.func.attr)
                on = ast.get_source_segment(text, node.func.value) or ""
                hit = (METRICS.search(on) or on in metrics) if rule and rule[0] == "{metrics}" \
                    else rule and rule[0].search(on)
                if hit:
                    out.append(f"{f}:{node.lineno}: {rule[1]}")
            if isinstance(node, ast.Name) and node.id in REMOVED_NAMES:
                out.append(f"{f}:{node.lineno}: {node.id} is gone in Qt6: use "
                           f"{REMOVED_NAMES[node.id]}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("paths", nargs="*", type=Path)
    ap.add_argument("--index-from", type=Path, help="a PyQt6 wheel: rebuild the enum index")
    args = ap.parse_args()
    if args.index_from:
        index = build_index(args.index_from)
        INDEX.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
        n = sum(len(v) for v in index["enums"].values())
        print(f"{INDEX.name}: {n} enum members of {len(index['enums'])} classes from "
              f"{index['source']}")
        return 0
    index = json.loads(INDEX.read_text())
    found = findings(args.paths or [ROOT / "mrife_qgis"], index)
    for line in found:
        print(line)
    print(f"Qt6 check ({index['source']}): {len(found)} finding(s)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
