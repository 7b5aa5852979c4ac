"""Translations of the plugin's user interface (``make translations``).

  python scripts/translations.py              update mrife_qgis/i18n/*.ts from the code, compile .qm
  python scripts/translations.py --check      fail if a string lacks a translation or a .qm is stale
  python scripts/translations.py --new de     start mrife_qgis/i18n/mrife_de.ts for a translator
  python scripts/translations.py --fill zh_CN table.json   set translations from {source: text}

Strings are found by reading the code: every call ``tr("literal")`` (``mrife_qgis.i18n.tr``) in
``mrife_qgis``. A ``tr()`` whose argument is not a literal is an error (it could not be
translated). The .ts files are Qt Linguist's format; translations of strings that are still in
the code are kept, new strings are marked unfinished, strings gone from the code are dropped.
``.qm`` files are compiled by Qt's ``lrelease`` (Debian: qttools5-dev-tools).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mrife_qgis"
I18N = PACKAGE / "i18n"
CONTEXT = "mrife"
FIELD = re.compile(r"\{[0-9]*(?:![rs])?(?::[^{}]*)?\}")


def extract(package: Path = PACKAGE) -> tuple[dict[str, list[tuple[str, int]]], list[str]]:
    """{source text: [(file, line), ...]} for every ``tr("...")`` in the package, and the
    problems found (a ``tr`` of something other than a string literal)."""
    found: dict[str, list[tuple[str, int]]] = {}
    problems = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        rel = path.relative_to(package).as_posix()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) \
                else ""
            if name != "tr":
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.setdefault(arg.value, []).append((rel, node.lineno))
            else:
                problems.append(f"{rel}:{node.lineno}: tr() of something that is not a string "
                                "literal cannot be translated")
    return found, problems


def read_ts(path: Path) -> tuple[str, dict[str, str]]:
    """(language, {source: translation}) of a .ts file; unfinished ones are left out."""
    root = ET.parse(path).getroot()
    done = {}
    for msg in root.iter("message"):
        source = msg.findtext("source") or ""
        tr = msg.find("translation")
        if tr is not None and tr.get("type") not in ("unfinished", "vanished", "obsolete") \
                and tr.text:
            done[source] = tr.text
    return root.get("language", ""), done


def write_ts(path: Path, language: str, strings: dict, translations: dict[str, str]) -> None:
    root = ET.Element("TS", version="2.1", language=language, sourcelanguage="en")
    ctx = ET.SubElement(root, "context")
    ET.SubElement(ctx, "name").text = CONTEXT
    # files, not line numbers: a string keeps its place in the .ts when code above it moves
    for source in sorted(strings, key=lambda s: (strings[s][0][0], s)):
        msg = ET.SubElement(ctx, "message")
        for file in dict.fromkeys(file for file, _line in strings[source]):
            ET.SubElement(msg, "location", filename=f"../{file}")
        ET.SubElement(msg, "source").text = source
        tr = ET.SubElement(msg, "translation")
        if source in translations:
            tr.text = translations[source]
        else:
            tr.set("type", "unfinished")
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode")
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n' + text + "\n",
                    encoding="utf-8")


def lrelease() -> str:
    for name in ("lrelease", "lrelease-qt5"):
        found = shutil.which(name) or (Path("/usr/lib/qt5/bin") / name).is_file() and \
            str(Path("/usr/lib/qt5/bin") / name)
        if found:
            return found
    sys.exit("translations: Qt's lrelease was not found; install it: apt-get install "
             "qttools5-dev-tools")


def compile_qm(ts: Path, qm: Path) -> None:
    subprocess.run([lrelease(), "-silent", str(ts), "-qm", str(qm)], check=True)


def field_problems(source: str, text: str) -> list[str]:
    if sorted(FIELD.findall(source)) != sorted(FIELD.findall(text)):
        return [f"fields differ: {source!r} -> {text!r}"]
    return []


def check(strings: dict) -> list[str]:
    problems = []
    for ts in sorted(I18N.glob("mrife_*.ts")):
        _language, done = read_ts(ts)
        missing = [s for s in strings if s not in done]
        problems += [f"{ts.name}: no translation for {s!r}" for s in missing]
        for s in strings:
            if s in done:
                problems += [f"{ts.name}: {p}" for p in field_problems(s, done[s])]
        qm = ts.with_suffix(".qm")
        if not qm.is_file():
            problems.append(f"{qm.name} is missing: run make translations")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / qm.name
            compile_qm(ts, fresh)
            if fresh.read_bytes() != qm.read_bytes():
                problems.append(f"{qm.name} is older than {ts.name}: run make translations")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--new", metavar="LOCALE")
    ap.add_argument("--fill", nargs=2, metavar=("LOCALE", "JSON"))
    args = ap.parse_args(argv)
    strings, problems = extract()
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    if args.check:
        problems = check(strings)
        print("\n".join(problems) if problems else
              f"translations: {len(strings)} strings, every one translated in "
              f"{', '.join(p.stem for p in sorted(I18N.glob('mrife_*.ts')))}")
        return 1 if problems else 0
    I18N.mkdir(exist_ok=True)
    if args.new:
        path = I18N / f"mrife_{args.new}.ts"
        if not path.exists():
            write_ts(path, args.new, strings, {})
    fills: dict[str, dict[str, str]] = {}
    if args.fill:
        fills[args.fill[0]] = json.loads(Path(args.fill[1]).read_text(encoding="utf-8"))
    for ts in sorted(I18N.glob("mrife_*.ts")):
        language, done = read_ts(ts)
        done.update(fills.get(language, {}))
        write_ts(ts, language, strings, {s: t for s, t in done.items() if s in strings})
        compile_qm(ts, ts.with_suffix(".qm"))
        left = [s for s in strings if s not in done]
        print(f"{ts.name}: {len(strings) - len(left)}/{len(strings)} translated"
              + (f"; unfinished: {len(left)}" if left else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
