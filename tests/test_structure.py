"""The shape docs/architecture.md describes: modules a reader can hold in mind, and one plain
import seam between the plugin and the mrife."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for d in ("mrife", "mrife_qgis") for p in (ROOT / d).rglob("*.py"))


def test_no_module_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in SOURCES
            if (n := len(p.read_text().splitlines())) > 400}
    assert len(SOURCES) > 40 and long == {}


def test_the_plugin_imports_the_backend_plainly():
    """No import by string (importlib with a computed name) of backend modules."""
    offenders = [str(p.relative_to(ROOT)) for p in SOURCES
                 if "backend_module(" in p.read_text()
                 or ("import_module(" in p.read_text() and p.parts[-2] != "installer"
                     and "mrife" in p.read_text().split("import_module(")[1][:40])]
    assert offenders == []


def test_the_library_keeps_its_layers_and_has_no_import_cycle():
    """scripts/layers.py (also run by make lint): each module imports only its layer and those
    below, core and geo keep torch (and core numpy and GDAL) out, no import cycle in mrife/ or
    bench/."""
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import layers
    finally:
        sys.path.pop(0)
    assert layers.library_breaches() + layers.bench_breaches() == []
