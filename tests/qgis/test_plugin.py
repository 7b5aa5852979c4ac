"""The plugin loads, starts and unloads in a real headless QGIS."""

from __future__ import annotations

from qgis.core import QgsApplication, QgsSettings
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QCoreApplication, QEvent
from qgis.PyQt.QtWidgets import QDockWidget


def _registry():
    return QgsApplication.processingRegistry()


def test_initgui_adds_button_menu_and_provider(plugin, desktop_iface):
    assert plugin.action in desktop_iface.plugin_toolbar.actions()
    assert "&MRIFE relic landslides/MRIFE relic landslides" in desktop_iface.raster_menu_texts()
    provider = _registry().providerById("mrife")
    assert provider is not None
    assert "mrife:deviceinfo" in [a.id() for a in provider.algorithms()]


def test_unload_removes_everything(plugin, desktop_iface):
    plugin.action.trigger()  # create the dock too, so unload has to remove it
    dock = plugin.dock
    assert dock is not None
    plugin.unload()
    assert _registry().providerById("mrife") is None
    assert desktop_iface.plugin_toolbar.actions() == []
    assert desktop_iface.raster_menu_texts() == []
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert sip.isdeleted(dock)             # removed and deleted, not merely hidden
    assert desktop_iface.window.findChildren(QDockWidget) == []


def test_button_opens_dock_with_tabs_and_device(plugin, desktop_iface):
    plugin.action.trigger()
    dock = plugin.dock
    assert dock is not None and not dock.isHidden()
    assert [dock.tabs.tabText(i) for i in range(dock.tabs.count())] == ["Label", "Train", "Detect"]
    # torch is installed in the test venv: the panel names the device it will use.
    text = dock.deviceStatus.text()
    assert "Will run on:" in text
    import torch

    expected = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    assert expected in text
    plugin.action.trigger()
    assert dock.isHidden()


def test_device_choice_is_remembered(plugin):
    plugin.action.trigger()
    combo = plugin.dock.deviceCombo
    keys = [combo.itemData(i) for i in range(combo.count())]
    assert keys[0] == "auto" and "cpu" in keys
    combo.setCurrentIndex(keys.index("cpu"))
    assert QgsSettings().value("mrife/device") == "cpu"
    assert "Will run on: CPU" in plugin.dock.deviceStatus.text()
    combo.setCurrentIndex(0)
    assert QgsSettings().value("mrife/device") == "auto"


def test_deviceinfo_algorithm_runs(plugin):
    import processing

    result = processing.run("mrife:deviceinfo", {"DEVICE": "cpu"})
    assert result["OUTPUT"] == "CPU"


def test_panel_explains_missing_torch(desktop_iface, qgis_processing, monkeypatch):
    """Without torch the plugin still loads and the panel says what to run."""
    import sys

    import mrife_qgis
    from mrife_qgis import deps

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ModuleNotFoundError
    monkeypatch.setattr(deps, "_cache", None)
    p = mrife_qgis.classFactory(desktop_iface)
    p.initGui()
    try:
        p.action.trigger()
        text = p.dock.deviceStatus.text()
        assert "torch: not installed" in text
        assert deps.install_command() in text
        assert "-m pip install" in deps.install_command()
    finally:
        p.unload()
        deps._cache = None


def test_panel_explains_broken_torch(tmp_path, monkeypatch):
    """A torch that raises on import (a broken CUDA library, say) is reported, not raised."""
    import sys

    from mrife_qgis import deps

    fake = tmp_path / "torchvision"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise OSError('libcudart.so.13: cannot open shared object')")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    status = deps.check_deps(refresh=True)
    deps._cache = None
    assert not status.ok
    assert "libcudart.so.13" in status.problems["torchvision"]
    assert "install" in status.message()


def test_torch_import_survives_mesa_llvm_in_process():
    """QGIS desktop under Mesa has libLLVM loaded; torchvision -> torch._dynamo -> triton loads a
    second LLVM and the process dies (seen in the real QGIS desktop). The plugin keeps Triton
    out; without that guard this subprocess segfaults."""
    import ctypes.util
    import subprocess
    import sys
    from pathlib import Path

    import pytest

    # found without loading it here: this test process may hold Triton's LLVM already
    lib = next(filter(None, (ctypes.util.find_library(n) for n in ("LLVM-15", "LLVM-14",
                                                                    "LLVM"))), None)
    if lib is None:
        pytest.skip("no system libLLVM to reproduce the clash with")
    code = (f"import ctypes; ctypes.CDLL('{lib}', mode=ctypes.RTLD_GLOBAL)\n"
            "from mrife_qgis.deps import check_deps\n"
            "s = check_deps()\n"
            "import torch\n"
            "print('OK', s.ok, torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3), "
            "torch.ones(1, 1, 3, 3)).item())\n")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "OK True 9.0" in proc.stdout

