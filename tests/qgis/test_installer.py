# ruff: noqa: E501  (pip output quoted verbatim)
"""The dependency installer and the diagnostics report, with the real pip of QGIS's Python.

On Debian, QGIS runs the system interpreter (/usr/bin/python3), which has no torch: that is the
Python these tests install into, as the plugin would inside the QGIS desktop.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mrife_qgis import installer

QGIS_PYTHON = Path("/usr/bin/python3")
needs_qgis_python = pytest.mark.skipif(not QGIS_PYTHON.is_file(), reason="no /usr/bin/python3")


def debian_numpy() -> str:
    out = subprocess.run([str(QGIS_PYTHON), "-c", "import numpy; print(numpy.__version__)"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def make_wheel(folder: Path, name: str = "mrife_probe", version: str = "1.0") -> Path:
    """A real pure-Python wheel, built by hand (a wheel is a zip with a .dist-info)."""
    files = {f"{name}/__init__.py": f"VALUE = 42\nVERSION = '{version}'\n",
             f"{name}-{version}.dist-info/METADATA":
                 f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n",
             f"{name}-{version}.dist-info/WHEEL":
                 "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    whl = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return whl


# -- layout and sys.path ------------------------------------------------------------------------

def test_runtime_key_separates_pythons_platforms_and_prefixes():
    a = installer.runtime_key((3, 11), "linux-x86_64", "/usr")
    assert a.startswith("py311-linux-x86_64-")
    assert installer.runtime_key((3, 12), "linux-x86_64", "/usr") != a       # QGIS upgrade
    assert installer.runtime_key((3, 11), "linux-x86_64", "/opt/qgis") != a  # another QGIS
    assert installer.runtime_key((3, 11), "win-amd64", "/usr") != a
    assert installer.runtime_key((3, 11), "linux-x86_64", "/usr") == a


def test_activate_puts_private_site_before_site_packages_once(tmp_path):
    folder = installer.runtime_dir(tmp_path)
    site = folder / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    path = ["/usr/lib/python311.zip", "/usr/lib/python3.11", "/home/u/.local/site-packages",
            "/usr/lib/python3/dist-packages"]
    assert installer.activate(tmp_path, path) == [str(site)]
    assert path.index(str(site)) == 2
    assert installer.activate(tmp_path, path) == []          # idempotent
    installer.deactivate(tmp_path, path)
    assert str(site) not in path
    assert installer.activate(tmp_path / "nothing", path) == []


def test_site_dirs_finds_the_layouts_pip_uses(tmp_path):
    made = [tmp_path / "a" / "lib" / "python3.11" / "site-packages",
            tmp_path / "b" / "Lib" / "site-packages",
            tmp_path / "c" / "local" / "lib" / "python3.11" / "dist-packages"]
    for p in made:
        p.mkdir(parents=True)
    for p in made:
        assert installer.site_dirs(p.parents[len(p.relative_to(tmp_path).parts) - 2]) == [p]


@needs_qgis_python
def test_python_interpreter_found_when_sys_executable_is_qgis():
    # QGIS on Windows/macOS: sys.executable is the QGIS program, not Python
    found = installer.python_interpreter(executable="/usr/bin/qgis", prefix="/usr",
                                         version=sys.version_info[:2])
    out = subprocess.run([str(found), "-c", "import sys; print(sys.version_info[:2])"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(tuple(sys.version_info[:2]))
    # a same-version Python with another prefix (a venv, pyenv) as sys.executable: QGIS's
    # interpreter (prefix /usr) is still the one found
    other = installer.python_interpreter(executable=sys.executable, prefix="/usr",
                                         version=sys.version_info[:2])
    probe = subprocess.run([str(other), "-c", "import sys; print(sys.prefix)"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "/usr"
    with pytest.raises(FileNotFoundError, match="cannot find the Python 2.6"):
        installer.python_interpreter(executable="/usr/bin/qgis", prefix="/nonexistent",
                                     version=(2, 6))


# -- build choice -------------------------------------------------------------------------------

def test_installer_pins_the_tested_torch_and_checks_what_was_installed():
    """The installer asks for exactly the torch/torchvision of requirements.txt (the pair the
    suite runs on), and refuses an install that came back as another release."""
    tested = {line.split("#")[0].strip() for line in
              (Path(__file__).parents[2] / "requirements.txt").read_text().splitlines()
              if line.startswith(("torch==", "torchvision=="))}
    assert set(installer.REQUIREMENTS) == tested and len(tested) == 2
    torch_v = next(r for r in tested if r.startswith("torch==")).split("==")[1]
    vision_v = next(r for r in tested if r.startswith("torchvision==")).split("==")[1]
    installer.check_versions({"torch": f"{torch_v}+cpu", "torchvision": vision_v},
                             installer.REQUIREMENTS)
    with pytest.raises(RuntimeError, match=f"torch 9.9.9 was installed where {torch_v}"):
        installer.check_versions({"torch": "9.9.9", "torchvision": vision_v},
                                 installer.REQUIREMENTS)



def test_build_follows_nvidia_smi():
    smi = "NVIDIA GeForce RTX 3060, 535.183.01, 12288\nNVIDIA A100-SXM4-40GB, 535.183.01, 40960\n"
    gpus = installer.parse_nvidia_smi(smi)
    assert gpus.names == ["NVIDIA GeForce RTX 3060", "NVIDIA A100-SXM4-40GB"]
    assert gpus.memory_mib == [12288, 40960] and gpus.driver == "535.183.01"
    assert installer.choose_build(gpus, "linux")[0] == "cuda"
    old = installer.parse_nvidia_smi("Quadro K2200, 470.239.06, 4096")
    build, why = installer.choose_build(old, "linux")
    assert build == "cpu" and "470.239.06" in why and "update the driver" in why
    assert installer.choose_build(installer.GpuInfo(error="nvidia-smi not found"),
                                  "linux")[0] == "cpu"
    assert installer.choose_build(gpus, "darwin")[0] == "cpu"
    # where each build comes from
    # exactly one index per build (never PyTorch's and PyPI together), wheels only
    for build, platform, index in (("cuda", "linux", "https://pypi.org/simple"),
                                   ("cpu", "linux", "https://download.pytorch.org/whl/cpu"),
                                   ("cuda", "win32", "https://download.pytorch.org/whl/cu126"),
                                   ("cpu", "win32", "https://pypi.org/simple"),
                                   ("cpu", "darwin", "https://pypi.org/simple")):
        args = installer.index_args(build, platform)
        assert args == ["--index-url", index, "--only-binary", ":all:"], (build, platform)
        assert "--extra-index-url" not in args
    with pytest.raises(ValueError):
        installer.index_args("rocm")


# -- constraints --------------------------------------------------------------------------------

@needs_qgis_python
def test_constraints_pin_numpy_and_compiled_packages_of_qgis_python(tmp_path):
    dists = installer.installed_distributions(QGIS_PYTHON)
    text = installer.constraints_text(dists)
    pins = dict(line.split("==") for line in text.splitlines() if "==" in line)
    assert pins["numpy"] == debian_numpy()           # Debian's numpy, which GDAL/QGIS need
    compiled = {n for n, d in dists.items() if d["binary"]}
    assert compiled and compiled <= set(pins)
    # pure-Python packages stay free to be added newer in the private folder
    pure = {n for n, d in dists.items() if not d["binary"]} - set(installer.ALWAYS_PIN)
    assert not pure & set(pins)


@needs_qgis_python
@pytest.mark.slow
def test_torch_resolves_against_the_constraints_without_touching_numpy(tmp_path):
    """pip's resolver, dry run, for the torch/torchvision this project pins (the registry's
    build), against constraints from QGIS's Python."""
    constraints = tmp_path / "c.txt"
    constraints.write_text(installer.constraints_text(
        installer.installed_distributions(QGIS_PYTHON)))
    report = tmp_path / "report.json"
    reqs = [line.split("#")[0].strip() for line in
            (Path(__file__).parents[2] / "requirements.txt").read_text().splitlines()
            if line.startswith(("torch==", "torchvision=="))]
    assert len(reqs) == 2
    cmd = installer.pip_command(QGIS_PYTHON, tmp_path / "p", reqs, constraints,
                                dry_run_report=report)
    env = installer.pip_env(tmp_path / "p")
    env["PIP_FIND_LINKS"] = ""       # the machine's local +cpu torch wheel is not the registry's
    run = installer.run_pip(cmd, env)
    assert run.returncode == 0, run.output[-2000:]
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert {"torch", "torchvision"} <= names
    assert "numpy" not in names
    assert not (tmp_path / "p").exists()              # a dry run writes nothing


# -- a real install and removal -----------------------------------------------------------------

@needs_qgis_python
def test_real_install_into_private_folder_and_removal(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    base = tmp_path / "packages"
    lines = []
    result = installer.install(base, ["mrife-probe==1.0"], build="cpu", python=QGIS_PYTHON,
                               extra_args=["--no-index", "--find-links", str(wheels)],
                               on_line=lines.append, verify_device=None)
    assert result.ok, result.message + result.log
    folder = installer.runtime_dir(base)
    assert result.folder == folder
    sites = installer.site_dirs(folder)
    assert len(sites) == 1 and (sites[0] / "mrife_probe" / "__init__.py").is_file()
    assert any("Successfully installed mrife-probe-1.0" in line for line in lines)
    manifest = installer.read_manifest(folder)
    assert manifest["packages"] == ["mrife_probe-1.0"] and manifest["build"] == "cpu"
    assert not list(base.glob("*.stage"))                 # the staging folder is gone
    # a fresh QGIS Python sees it once the folder is activated (as the plugin does at start)
    code = ("import sys; sys.path[:0] = sys.argv[1:]; import mrife_probe; "
            "print(mrife_probe.VALUE, mrife_probe.__file__)")
    out = subprocess.run([str(QGIS_PYTHON), "-c", code, *map(str, sites)],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("42 " + str(sites[0]))
    # nothing was written outside the private folder
    assert sorted(p.name for p in base.iterdir()) == [folder.name]
    # a failed second install (unknown package) leaves the first one intact
    bad = installer.install(base, ["mrife-probe-missing==9"], build="cpu", python=QGIS_PYTHON,
                            extra_args=["--no-index", "--find-links", str(wheels)],
                            verify_device=None)
    assert not bad.ok and "no torch build exists" in bad.message
    assert (sites[0] / "mrife_probe" / "__init__.py").is_file()
    # removal
    path = [str(sites[0]), "/usr/lib/python3/dist-packages"]
    assert installer.remove(base)
    assert not folder.exists()
    assert not installer.remove(base)                    # nothing left to remove
    assert installer.activate(base, path) == []


def test_cancelled_pip_run_is_stopped_and_reported(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text("import time\nfor i in range(100):\n    print('line', i, flush=True)\n"
                      "    time.sleep(0.05)\n")
    seen = []
    run = installer.run_pip([sys.executable, str(script)], on_line=seen.append,
                            should_cancel=lambda: len(seen) >= 3)
    assert run.cancelled and len(seen) == 3 and run.returncode != 0
    assert "cancelled" in installer.explain_failure(run, tmp_path)


# -- failures in words --------------------------------------------------------------------------

PIP_OUTPUTS = {
    "network": """WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/torch/
ERROR: Could not find a version that satisfies the requirement torch>=2.4 (from versions: none)
ERROR: No matching distribution found for torch>=2.4""",
    "proxy": """WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'ProxyError('Cannot connect to proxy.', OSError('Tunnel connection failed: 407 Proxy Authentication Required'))': /simple/torch/
ERROR: No matching distribution found for torch>=2.4""",
    "ssl": """WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)'))': /simple/torch/
ERROR: No matching distribution found for torch>=2.4""",
    "disk": """Downloading torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl (912.3 MB)
ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device""",
    "permission": """ERROR: Could not install packages due to an OSError: [Errno 13] Permission denied: '/opt/qgis/python-packages/py311/lib'
Check the permissions.""",
    "conflict": """ERROR: Cannot install torchvision==0.29.2 because these package versions have conflicting dependencies.

The conflict is caused by:
    torchvision 0.29.2 depends on numpy>=2.0
    The user requested (constraint) numpy==1.24.2

To fix this you could try to:
1. loosen the range of package versions you've specified
2. remove package versions to allow pip attempt to solve the dependency conflict

ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts""",
    "nopip": "/usr/bin/python3: No module named pip",
}


@pytest.mark.parametrize("kind, words", [
    ("network", "no connection to the package index"),
    ("proxy", "a proxy blocked the download"),
    ("ssl", "SSL certificate"),
    ("disk", "the disk is full"),
    ("permission", "permission denied writing to"),
    ("conflict", "conflict with one QGIS ships (numpy)"),
    ("nopip", "has no pip"),
])
def test_failed_pip_runs_are_explained(tmp_path, kind, words):
    text = installer.explain_failure(installer.PipRun(1, PIP_OUTPUTS[kind]), tmp_path / "x")
    assert words in text
    assert "Traceback" not in text


def test_unknown_failure_quotes_pips_last_lines(tmp_path):
    text = installer.explain_failure(installer.PipRun(2, "a\nb\nERROR: something odd"), tmp_path)
    assert "exit code 2" in text and "ERROR: something odd" in text


# -- in QGIS: the report, the dialog, the plugin's start ----------------------------------------

@pytest.fixture
def private_base(tmp_path, monkeypatch):
    base = tmp_path / "mrife-packages"
    monkeypatch.setenv("MRIFE_PACKAGES", str(base))
    return base


def test_diagnostics_report_in_headless_qgis(qgis_iface, private_base, tmp_path):
    from qgis.core import Qgis

    from mrife_qgis import log
    from mrife_qgis.diagnostics import write_report

    log.log("detection failed: the raster has 1 band", Qgis.MessageLevel.Critical)
    folder = installer.runtime_dir(private_base)
    (folder / "lib").mkdir(parents=True)
    (folder / installer.MANIFEST).write_text(json.dumps(
        {"installed": "2026-11-21T10:00:00+00:00", "build": "cpu",
         "requirements": ["torch>=2.4"], "packages": ["torch-2.15.0"], "verified": {}}))
    path = write_report(tmp_path / "report.md")
    text = path.read_text()
    import torch

    assert Qgis.QGIS_VERSION in text
    assert f"torch {torch.__version__} from {Path(torch.__file__).parent}" in text
    assert sys.version.split()[0] in text
    assert "device chosen in the panel: " in text
    assert str(folder) in text and "torch-2.15.0" in text and "build cpu" in text
    assert "error: detection failed: the raster has 1 band" in text
    for heading in ("## Versions", "## torch", "## Private packages",
                    "## Last warnings and errors from the plugin"):
        assert heading in text


@needs_qgis_python
def test_install_dialog_installs_and_removes(plugin, private_base, tmp_path):
    from qgis.core import QgsApplication
    from qgis.PyQt.QtCore import QCoreApplication
    from qgis.PyQt.QtTest import QTest

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    dock = plugin._dock()
    dialog = dock.show_installer()
    dialog.python = QGIS_PYTHON
    dialog.requirements = ["mrife-probe==1.0"]
    dialog.extra_args = ["--no-index", "--find-links", str(wheels)]
    dialog.verify_device = None
    dialog.buildCombo.setCurrentIndex(dialog.buildCombo.findData("cpu"))
    assert not dialog.removeButton.isEnabled()
    dialog.installButton.click()
    for _ in range(600):
        if dialog.task is None:
            break
        QCoreApplication.processEvents()
        QTest.qWait(50)
    assert dialog.task is None and dialog.last_result is not None
    assert dialog.last_result.ok, dialog.last_result.message
    assert "Successfully installed mrife-probe-1.0" in dialog.output.toPlainText()
    assert dialog.removeButton.isEnabled()
    assert QgsApplication.taskManager().countActiveTasks() == 0
    assert dialog.remove(confirm=False)
    assert not installer.runtime_dir(private_base).exists()
    dialog.close()


def test_plugin_start_activates_private_folder(qgis_iface, private_base):
    folder = installer.runtime_dir(private_base)
    site = folder / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    site.mkdir(parents=True)
    import mrife_qgis

    assert os.environ["MRIFE_PACKAGES"] == str(private_base)
    try:
        mrife_qgis.classFactory(qgis_iface)          # what QGIS calls when it loads the plugin
        assert str(site) in sys.path
        first_site = next(i for i, p in enumerate(sys.path) if p.endswith("-packages"))
        assert sys.path[first_site] == str(site)
    finally:
        installer.deactivate(private_base)
