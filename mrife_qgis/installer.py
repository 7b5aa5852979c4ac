"""Install torch and torchvision for QGIS's Python into a folder the plugin owns.

Nothing here imports QGIS, Qt or torch, so it runs before any of them and in plain tests.

Layout: ``<base>/<runtime key>/`` per QGIS runtime, where the key is the Python version, the
platform and a hash of the interpreter's prefix (a QGIS upgrade with a new Python gets a new,
empty folder, so the plugin offers a fresh install). pip installs with ``--prefix`` into it, so:
- nothing is written into QGIS's own site-packages and PEP 668 ("externally managed") does not
  apply;
- pip sees what QGIS's Python already has and keeps it: a constraints file pins every compiled
  distribution QGIS's Python ships (numpy above all, which GDAL and QGIS are built against), so a
  requirement that would upgrade one fails to resolve instead of breaking QGIS.
``manifest.json`` in the folder records what was installed, the build and pip's log.

At start the plugin calls :func:`activate`, which puts the folder's site-packages on ``sys.path``
ahead of QGIS's site-packages (packages the constraints let pip add, such as a newer
typing_extensions that torch needs, must win over older copies).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# Exact versions (the pair this project is tested with, requirements.txt), each from one index
# only (index_args): a name searched on two indexes at once is the shape of a dependency-
# confusion attack, and a range lets an index serve any release it likes.
TORCH_VERSION = "2.15.0"
TORCHVISION_VERSION = "0.29.2"
REQUIREMENTS = (f"torch=={TORCH_VERSION}", f"torchvision=={TORCHVISION_VERSION}")
PYTORCH_INDEX = "https://download.pytorch.org/whl"
CUDA_TAG = "cu126"              # CUDA 12.6 wheels: need an NVIDIA driver >= 525 (Linux) / 528
MIN_DRIVER = {"linux": 525, "win32": 528}
MANIFEST = "manifest.json"
ALWAYS_PIN = ("numpy",)


# -- where -------------------------------------------------------------------------------------

def runtime_key(version: Sequence[int] | None = None, platform: str | None = None,
                prefix: str | None = None) -> str:
    """E.g. ``py311-linux-x86_64-1a2b3c4d``: one private folder per QGIS Python."""
    v = version or sys.version_info
    plat = (platform or sysconfig.get_platform()).replace(".", "_").replace(" ", "_")
    # a folder name, not a security use; sha1 keeps the names of existing installs
    digest = hashlib.sha1(os.path.realpath(prefix or sys.prefix).encode(),
                          usedforsecurity=False).hexdigest()[:8]
    return f"py{v[0]}{v[1]}-{plat}-{digest}"


def runtime_dir(base: Path, **kw) -> Path:
    return Path(base) / runtime_key(**kw)


def site_dirs(folder: Path) -> list[Path]:
    """The site-packages folders pip made under a ``--prefix`` folder (the layout differs by
    OS and distribution: lib/pythonX.Y/site-packages, Lib/site-packages,
    local/lib/.../dist-packages)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for pattern in ("*-packages", "*/*-packages", "*/*/*-packages",
                               "*/*/*/*-packages")
             for p in folder.glob(pattern) if p.is_dir() and p.name in ("site-packages",
                                                                          "dist-packages")]
    return sorted(set(found))


def activate(base: Path, path: list[str] | None = None) -> list[str]:
    """Put this runtime's private site-packages on ``sys.path`` (or ``path``), before the first
    site-/dist-packages entry; idempotent. Returns the entries added."""
    path = sys.path if path is None else path
    added = []
    for site in site_dirs(runtime_dir(base)):
        entry = str(site)
        if entry in path:
            continue
        at = next((i for i, p in enumerate(path) if p.rstrip("/\\").endswith(
            ("site-packages", "dist-packages"))), len(path))
        path.insert(at, entry)
        added.append(entry)
    return added


def deactivate(base: Path, path: list[str] | None = None) -> None:
    path = sys.path if path is None else path
    root = str(runtime_dir(base))
    path[:] = [p for p in path if not p.startswith(root)]


# -- which Python --------------------------------------------------------------------------------

def _probe(python: Path) -> dict | None:
    try:
        out = subprocess.run([str(python), "-c", "import json, sys; print(json.dumps("
                              "{'version': list(sys.version_info[:2]), 'prefix': sys.prefix}))"],
                             capture_output=True, text=True, timeout=30, **_no_window())
        return json.loads(out.stdout) if out.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def python_interpreter(executable: str | None = None, prefix: str | None = None,
                       version: Sequence[int] | None = None) -> Path:
    """The Python interpreter of the running QGIS. In QGIS on Windows and macOS,
    ``sys.executable`` is QGIS itself (qgis-bin.exe, QGIS.app/Contents/MacOS/QGIS); the
    interpreter lies under ``sys.prefix`` (or ``sys.exec_prefix``). Each candidate is run to check
    that its version is QGIS's. FileNotFoundError when none is found."""
    executable = executable or sys.executable
    prefix = prefix or sys.prefix
    v = tuple((version or sys.version_info)[:2])
    name = Path(executable).name.lower()
    candidates = []
    if name.startswith("python"):
        candidates.append(Path(executable))
    for root in dict.fromkeys((Path(prefix), Path(sys.exec_prefix))):
        candidates += [root / "python.exe", root / "python3.exe",
                       root / "bin" / f"python{v[0]}.{v[1]}", root / "bin" / "python3",
                       root / "bin" / "python"]
    for which in (f"python{v[0]}.{v[1]}", "python3"):
        found = shutil.which(which)
        if found:
            candidates.append(Path(found))
    # same version and same prefix: QGIS's own interpreter. sys.executable can be a different
    # Python of the same version (seen: QGIS on Debian reports a pyenv shim found on PATH), whose
    # packages are not QGIS's; it is only taken when no candidate has QGIS's prefix.
    same_version = []
    for cand in dict.fromkeys(candidates):
        if cand.is_file():
            probe = _probe(cand)
            if probe and tuple(probe["version"]) == v:
                if os.path.realpath(probe["prefix"]) == os.path.realpath(prefix):
                    return cand
                same_version.append(cand)
    if same_version:
        return same_version[0]
    raise FileNotFoundError(f"cannot find the Python {v[0]}.{v[1]} interpreter QGIS runs "
                            f"(sys.executable is {executable}); install the packages by hand "
                            "with the command shown")


def _no_window() -> dict:
    """No console window flashing up on Windows."""
    if sys.platform == "win32":
        return {"creationflags": 0x08000000}   # CREATE_NO_WINDOW
    return {}


# -- which build -------------------------------------------------------------------------------

@dataclass
class GpuInfo:
    names: list[str] = field(default_factory=list)
    driver: str = ""
    memory_mib: list[int] = field(default_factory=list)
    error: str = ""


def parse_nvidia_smi(text: str) -> GpuInfo:
    """Parse ``nvidia-smi --query-gpu=name,driver_version,memory.total
    --format=csv,noheader,nounits``."""
    info = GpuInfo()
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3:
            info.names.append(parts[0])
            info.driver = parts[1]
            try:
                info.memory_mib.append(int(float(parts[2])))
            except ValueError:
                pass
    return info


def nvidia_gpus() -> GpuInfo:
    """GPUs the NVIDIA driver reports (empty when there is no driver or no nvidia-smi)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return GpuInfo(error="nvidia-smi not found (no NVIDIA driver)")
    try:
        out = subprocess.run([exe, "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True,
                             timeout=20, **_no_window())
    except (OSError, subprocess.SubprocessError) as exc:
        return GpuInfo(error=f"nvidia-smi failed: {exc}")
    if out.returncode != 0:
        return GpuInfo(error=f"nvidia-smi failed: {out.stderr.strip() or out.stdout.strip()}")
    return parse_nvidia_smi(out.stdout)


def choose_build(gpus: GpuInfo, platform: str | None = None) -> tuple[str, str]:
    """("cuda" | "cpu", why). macOS: "cpu" (the default wheel, which includes MPS)."""
    platform = platform or sys.platform
    if platform == "darwin":
        return "cpu", "macOS: the standard build (Apple GPUs through MPS)"
    if not gpus.names:
        return "cpu", f"no NVIDIA GPU found ({gpus.error or 'nvidia-smi lists none'})"
    try:
        major = int(gpus.driver.split(".")[0])
    except ValueError:
        major = 0
    need = MIN_DRIVER.get(platform, 525)
    if major < need:
        return "cpu", (f"NVIDIA driver {gpus.driver or '?'} is older than {need}, which CUDA 12 "
                       "builds need; update the driver, then switch to the GPU build")
    return "cuda", f"{gpus.names[0]}, driver {gpus.driver}"


def index_args(build: str, platform: str | None = None) -> list[str]:
    """pip options that pick the build, always from exactly one index, wheels only (no package
    builds, so no setup.py runs). Linux: PyPI's torch is the CUDA build, the CPU build comes
    from PyTorch's index; Windows: PyPI's is the CPU build, CUDA from PyTorch's index; macOS:
    PyPI's (there is one build). PyTorch's indexes also serve torch's own dependencies, so the
    install never mixes them with PyPI."""
    platform = platform or sys.platform
    if build not in ("cpu", "cuda"):
        raise ValueError(f"build must be 'cpu' or 'cuda', not {build!r}")
    if platform.startswith("linux") and build == "cpu":
        index = f"{PYTORCH_INDEX}/cpu"
    elif platform == "win32" and build == "cuda":
        index = f"{PYTORCH_INDEX}/{CUDA_TAG}"
    else:
        index = "https://pypi.org/simple"
    return ["--index-url", index, "--only-binary", ":all:"]


def check_versions(verified: dict, requirements: Sequence[str]) -> None:
    """RuntimeError unless every ``name==version`` requirement that the check reported on
    (torch, torchvision) is installed at that version (a local tag such as +cpu is allowed)."""
    for req in requirements:
        name, _, want = req.partition("==")
        got = verified.get(name.strip())
        if want and got is not None and str(got).split("+")[0] != want.strip():
            raise RuntimeError(f"{name} {got} was installed where {want} was asked for; the "
                               "package index served another release. Nothing was changed")


# -- constraints -------------------------------------------------------------------------------

_LIST_DISTS = r"""
import importlib.metadata as md, json, sys
skip = [p for p in sys.argv[1:]]
out = {}
for d in md.distributions():
    loc = str(getattr(d, '_path', '') or '')
    if any(loc.startswith(s) for s in skip):
        continue
    name = (d.metadata['Name'] or '').lower().replace('_', '-')
    if not name or name in out:
        continue
    files = d.files or []
    binary = any(str(f).endswith(('.so', '.pyd', '.dylib')) or '.so.' in str(f) for f in files)
    out[name] = {'version': d.version, 'binary': binary}
print(json.dumps(out))
"""


def installed_distributions(python: Path, exclude: Sequence[Path] = ()) -> dict[str, dict]:
    """name -> {version, binary} for what ``python`` already has (outside ``exclude``)."""
    out = subprocess.run([str(python), "-c", _LIST_DISTS, *map(str, exclude)],
                         capture_output=True, text=True, timeout=120, **_no_window())
    if out.returncode != 0:
        raise RuntimeError(f"cannot list the packages of {python}: {out.stderr.strip()}")
    return json.loads(out.stdout)


def constraints_text(dists: dict[str, dict]) -> str:
    """pip constraints: every compiled distribution QGIS's Python has, and numpy always, pinned
    to the installed version. Pure-Python ones stay free (torch needs newer typing_extensions
    than some distributions ship)."""
    lines = ["# generated by MRIFE for QGIS from the packages QGIS's Python already has;",
             "# compiled packages (numpy above all) must never be replaced"]
    for name in sorted(dists):
        d = dists[name]
        if d.get("binary") or name in ALWAYS_PIN:
            lines.append(f"{name}=={d['version']}")
    return "\n".join(lines) + "\n"


# -- pip -----------------------------------------------------------------------------------------

def pip_command(python: Path, target: Path, requirements: Sequence[str], constraints: Path,
                extra: Sequence[str] = (), dry_run_report: Path | None = None) -> list[str]:
    cmd = [str(python), "-m", "pip", "install", "--prefix", str(target), "--constraint",
           str(constraints), "--no-warn-script-location", "--disable-pip-version-check",
           "--progress-bar", "off", "--prefer-binary", *extra]
    if dry_run_report is not None:
        cmd += ["--dry-run", "--report", str(dry_run_report)]
    return cmd + list(requirements)


def pip_env(*targets: Path) -> dict[str, str]:
    """Environment for pip and the check: sees what is already in the private folder(s); not the
    user's site (what pip installs must land in the folder, not be 'already satisfied' by
    ~/.local)."""
    env = dict(os.environ)
    sites = [str(s) for t in targets for s in site_dirs(t)]
    if sites:
        env["PYTHONPATH"] = os.pathsep.join(sites + ([env["PYTHONPATH"]]
                                                     if env.get("PYTHONPATH") else []))
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


@dataclass
class PipRun:
    returncode: int
    output: str
    cancelled: bool = False


def run_pip(cmd: Sequence[str], env: dict[str, str] | None = None,
            on_line: Callable[[str], None] | None = None,
            should_cancel: Callable[[], bool] | None = None) -> PipRun:
    """Run pip as its own process, streaming each output line; cancel terminates it."""
    lines: list[str] = []
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1, env=env, **_no_window())
    cancelled = False
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if on_line is not None:
            on_line(lines[-1])
        if should_cancel is not None and should_cancel():
            cancelled = True
            proc.terminate()
            break
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    return PipRun(rc, "\n".join(lines), cancelled)


FAILURES = [
    (r"No space left on device|Errno 28", "the disk is full: free some space (torch needs about "
     "{space}) on the drive that holds {target}, then install again"),
    (r"Permission denied|Errno 13|Access is denied", "permission denied writing to {target}: "
     "check that your user may write there (antivirus software can also block it), then try "
     "again"),
    (r"ProxyError|407 Proxy|Tunnel connection failed", "a proxy blocked the download: set the "
     "proxy in QGIS (Settings > Options > Network) or the HTTPS_PROXY environment variable, "
     "then try again"),
    (r"SSLError|CERTIFICATE_VERIFY_FAILED|SSL: ", "the secure connection to the package index "
     "failed (SSL certificate): a company proxy that inspects traffic usually causes this; ask "
     "IT for its certificate and set PIP_CERT, or install offline from wheel files"),
    (r"NewConnectionError|Temporary failure in name resolution|Name or service not known|"
     r"Failed to establish a new connection|getaddrinfo failed|Network is unreachable|"
     r"ConnectTimeout|Read timed out", "no connection to the package index (no network, or a "
     "firewall): connect to the internet, or install offline from downloaded wheel files"),
    (r"ResolutionImpossible|conflicting dependencies|Cannot install .* because",
     "the packages conflict with one QGIS ships ({conflict}): this QGIS's Python cannot take "
     "this torch version without replacing a package QGIS needs. Use a newer QGIS, or choose "
     "another torch version"),
    (r"No matching distribution found|Could not find a version that satisfies",
     "no torch build exists for this Python/platform ({python}) on the package index: check "
     "that QGIS runs a 64-bit Python that torch supports"),
    (r"No module named pip", "QGIS's Python has no pip: on Debian/Ubuntu run "
     "`sudo apt install python3-pip`; on other systems reinstall QGIS with its Python tools"),
]


def explain_failure(run: PipRun, target: Path, python: str = "") -> str:
    """A sentence a GIS user can act on, for a failed pip run."""
    if run.cancelled:
        return "the installation was cancelled; nothing half-installed is kept"
    text = run.output
    for pattern, message in FAILURES:
        if re.search(pattern, text):
            conflict = ", ".join(sorted(set(re.findall(
                r"(?:because these package versions have conflicting dependencies|"
                r"The conflict is caused by)[\s\S]{0,400}?([A-Za-z0-9_.-]+)==[0-9]", text)))) \
                or "see the log"
            return message.format(target=target, space="5 GB", conflict=conflict,
                                  python=python or sys.version.split()[0])
    tail = "\n".join(text.strip().splitlines()[-3:])
    return f"pip stopped with exit code {run.returncode}; the last lines were:\n{tail}"


# -- verify --------------------------------------------------------------------------------------

_VERIFY = r"""
import json, sys
sys.modules.setdefault('triton', None)
import torch, torchvision
dev = sys.argv[1]
if dev == 'auto':
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
x = torch.randn(1, 3, 16, 16, device=dev)
w = torch.randn(4, 3, 3, 3, device=dev)
y = torch.nn.functional.conv2d(x, w)
ref = torch.nn.functional.conv2d(x.cpu().double(), w.cpu().double())
ok = bool((y.cpu().double() - ref).abs().max() < 1e-3)
print(json.dumps({'torch': torch.__version__, 'torchvision': torchvision.__version__,
                  'cuda_build': torch.version.cuda, 'device': dev, 'conv_ok': ok,
                  'torch_file': torch.__file__,
                  'gpu': torch.cuda.get_device_name(0) if dev.startswith('cuda') else None}))
"""


def verify(python: Path, *targets: Path, device: str = "auto", timeout: int = 300) -> dict:
    """Import torch and torchvision in a fresh process that sees the private folder, and run one
    small convolution on ``device``, checked against float64 on the CPU. Raises RuntimeError with
    the reason when that fails."""
    env = pip_env(*targets)
    out = subprocess.run([str(python), "-c", _VERIFY, device], capture_output=True, text=True,
                         timeout=timeout, env=env, **_no_window())
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"torch does not work after the installation: {last}")
    info = json.loads(out.stdout.strip().splitlines()[-1])
    if not info["conv_ok"]:
        raise RuntimeError(f"a test convolution on {info['device']} gave wrong numbers")
    return info


# -- the whole job -------------------------------------------------------------------------------

@dataclass
class InstallResult:
    ok: bool
    message: str
    folder: Path
    log: str = ""
    verified: dict = field(default_factory=dict)


def read_manifest(folder: Path) -> dict:
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def install(base: Path, requirements: Sequence[str] = REQUIREMENTS, build: str = "auto",
            python: Path | None = None, extra_args: Sequence[str] = (),
            on_line: Callable[[str], None] | None = None,
            should_cancel: Callable[[], bool] | None = None,
            verify_device: str | None = "auto", **key) -> InstallResult:
    """Install ``requirements`` into this runtime's private folder under ``base``.

    pip installs into a staging folder beside it; only a successful (and verified) install
    replaces the folder, so a failed or cancelled run leaves the previous state as it was.
    ``verify_device`` None skips the torch check (for packages other than torch)."""
    folder = runtime_dir(base, **key)
    lines: list[str] = []

    def say(text: str) -> None:
        lines.append(text)
        if on_line is not None:
            on_line(text)

    try:
        python = Path(python) if python else python_interpreter()
    except FileNotFoundError as exc:
        return InstallResult(False, str(exc), folder)
    gpus = nvidia_gpus()
    if build == "auto":
        build, why = choose_build(gpus)
        say(f"build: {build} ({why})")
    Path(base).mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".stage", dir=base))
    # same build already there: pip sees it and adds only what is missing, merged in at the end;
    # another build (CPU -> GPU): a fresh folder that replaces the old one when it works
    keep = folder.is_dir() and read_manifest(folder).get("build") == build
    seen = [stage, folder] if keep else [stage]
    try:
        dists = installed_distributions(python, exclude=[folder, stage])
        constraints = stage / "constraints.txt"
        constraints.write_text(constraints_text(dists))
        cmd = pip_command(python, stage, requirements, constraints,
                          [*index_args(build), *extra_args])
        say("$ " + " ".join(cmd))
        run = run_pip(cmd, pip_env(*seen), say, should_cancel)
        if run.returncode != 0 or run.cancelled:
            return InstallResult(False, explain_failure(run, folder, str(python)), folder,
                                 "\n".join(lines))
        verified = {}
        if verify_device:
            say(f"checking torch in a fresh process on {verify_device} ...")
            try:
                verified = verify(python, *seen, device=verify_device)
                check_versions(verified, requirements)
            except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
                return InstallResult(False, str(exc), folder, "\n".join(lines))
            say(json.dumps(verified))
        constraints.unlink()
        if keep:
            shutil.copytree(stage, folder, dirs_exist_ok=True, symlinks=True)
        else:
            old = folder.with_name(folder.name + ".old")
            if folder.exists():
                shutil.rmtree(old, ignore_errors=True)
                folder.rename(old)
            stage.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        manifest = read_manifest(folder) if keep else {}
        manifest.update({
            "requirements": sorted(set(manifest.get("requirements", [])) | set(requirements)),
            "build": build, "python": str(python),
            "python_version": ".".join(map(str, sys.version_info[:3])),
            "installed": datetime.now(UTC).isoformat(timespec="seconds"),
            "verified": verified or manifest.get("verified", {}), "gpus": asdict(gpus),
            "packages": sorted(p.name[:-len(".dist-info")] for st in site_dirs(folder)
                               for p in st.iterdir() if p.name.endswith(".dist-info"))})
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
        (folder / "pip.log").write_text("\n".join(lines) + "\n")
        return InstallResult(True, f"installed into {folder}", folder, "\n".join(lines),
                             verified)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def remove(base: Path, **key) -> bool:
    """Delete this runtime's private folder (only a folder this module made: it must hold a
    manifest). True when something was removed."""
    folder = runtime_dir(base, **key)
    if not (folder / MANIFEST).is_file():
        return False
    deactivate(base)
    shutil.rmtree(folder)
    return True


def other_runtimes(base: Path) -> list[Path]:
    """Private folders of other QGIS Pythons (e.g. left by a QGIS upgrade)."""
    base, mine = Path(base), runtime_key()
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and p.name != mine
                  and (p / MANIFEST).is_file())
