"""The model catalogue: models listed in ``resources/models/catalogue.json``, found on disk or
downloaded once through QGIS's network stack (so the user's proxy settings apply) into a cache
in the QGIS profile, and verified by SHA-256 before any of them is opened.

Where a model is looked for, in order:
1. beside the plugin (``resources/models/<file>``: the source tree, or a plugin folder that ships
   it), when its SHA-256 matches the catalogue;
2. the cache, ``<QGIS profile>/mrife/models/<file>``;
3. downloaded from ``<base>/<file>``, then from each of the entry's ``urls``. The base is
   ``MRIFE_MODELS_URL`` (environment), else the QGIS setting ``mrife/models_url``, else the
   project's release downloads. A base that is a folder (or a ``file://`` URL) is an offline
   mirror: the file is copied from it.

A download goes to ``<file>.part`` in the cache, in ranges of :data:`CHUNK` bytes: an
interrupted download resumes from the last complete range; a cancelled one is deleted. A file
whose SHA-256 does not match is deleted and reported.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from qgis.core import (
    QgsApplication,
    QgsFeedback,
    QgsNetworkAccessManager,
    QgsSettings,
    QgsTask,
)
from qgis.PyQt.QtCore import QEventLoop, QTimer, QUrl
from qgis.PyQt.QtNetwork import QNetworkReply, QNetworkRequest

from mrife.digest import sha256_hex

from .paths import resources_dir

DEFAULT_BASE = "https://github.com/mrife-qgis/mrife-qgis/releases/download/models-v1"
ENV_BASE = "MRIFE_MODELS_URL"
SETTING_BASE = "mrife/models_url"
CHUNK = 4 * 2**20


class CatalogueError(ValueError):
    """A model cannot be had; the message says why and what to do."""


class Cancelled(Exception):  # noqa: N818 (as mrife.inference.Cancelled)
    """The user cancelled the download; nothing is left in the cache."""


@dataclass
class CatalogueModel:
    name: str
    title: str
    file: str
    size: int
    sha256: str
    architecture: str = ""
    backbone: str = ""
    bands: list[str] = field(default_factory=list)
    ground_resolution: float | None = None
    tile_size: int = 0
    threshold: float = 0.5
    trained_on: str = ""
    metrics: dict = field(default_factory=dict)
    licence: str = ""
    attribution: str = ""
    urls: list[str] = field(default_factory=list)

    def describe(self) -> str:
        iou = self.metrics.get("iou_landslide")
        from .i18n import tr

        text = tr("{0}: {1}/{2}, {3} bands, {4} px at {5} m").format(
            self.title, self.architecture, self.backbone, len(self.bands), self.tile_size,
            f"{self.ground_resolution:g}")
        if iou is not None:
            text += tr(", test IoU {0}").format(f"{iou:.2f}")
        return text + tr(", {0} MiB").format(f"{self.size / 2**20:.1f}")


def catalogue_path() -> Path:
    return resources_dir() / "models" / "catalogue.json"


def load(path: Path | None = None) -> tuple[list[CatalogueModel], str | None]:
    """The catalogue's models and the name of the default one."""
    path = path or catalogue_path()
    if not path.is_file():
        return [], None
    data = json.loads(path.read_text(encoding="utf-8"))
    known = set(CatalogueModel.__dataclass_fields__)
    models = [CatalogueModel(**{k: v for k, v in m.items() if k in known})
              for m in data.get("models", [])]
    return models, data.get("default")


def default_entry() -> CatalogueModel | None:
    models, default = load()
    return next((m for m in models if m.name == default), models[0] if models else None)


def find(name: str) -> CatalogueModel:
    models, _ = load()
    for m in models:
        if m.name == name:
            return m
    raise CatalogueError(f"no model named '{name}' in the catalogue; choose one of "
                         f"{[m.name for m in models]} or a model file")


def url_base() -> str:
    return (os.environ.get(ENV_BASE) or QgsSettings().value(SETTING_BASE, "", type=str)
            or DEFAULT_BASE).rstrip("/")


def cache_dir() -> Path:
    return Path(QgsApplication.qgisSettingsDirPath()) / "mrife" / "models"


def sha256(path: Path) -> str:
    return sha256_hex(path)


_VERIFIED: dict[tuple[str, int, float], str] = {}


def _matches(path: Path, entry: CatalogueModel) -> bool:
    """Size and SHA-256 as the catalogue says (the hash remembered per file and mtime)."""
    if not path.is_file() or path.stat().st_size != entry.size:
        return False
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256(path)
    return _VERIFIED[key] == entry.sha256


def local_path(entry: CatalogueModel) -> Path | None:
    """The entry's file on disk (beside the plugin or in the cache), verified; else None."""
    for folder in (resources_dir() / "models", cache_dir()):
        path = folder / entry.file
        if _matches(path, entry):
            return path
    return None


def sources(entry: CatalogueModel) -> list[str]:
    return [f"{url_base()}/{entry.file}"] + list(entry.urls)


def ensure(entry: CatalogueModel, feedback: QgsFeedback | None = None, log=None) -> Path:
    """The entry's verified file, downloaded first when it is not on disk. Raises
    :class:`CatalogueError` (with every source's failure) or :class:`Cancelled`."""
    found = local_path(entry)
    if found is not None:
        return found
    target = cache_dir() / entry.file
    target.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for source in sources(entry):
        try:
            _fetch(source, target, entry, feedback, log)
        except Cancelled:
            _part(target).unlink(missing_ok=True)
            raise
        except CatalogueError as exc:
            failures.append(f"{source}: {exc}")
            continue
        return target
    raise CatalogueError(f"the model {entry.name} could not be downloaded ("
                         + "; ".join(failures) + "). Check the connection (and QGIS's proxy "
                         "settings), or download it yourself and choose the file, or point the "
                         f"setting {SETTING_BASE} / {ENV_BASE} to a folder that holds it")


def _part(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def _mirror_path(source: str) -> Path | None:
    parsed = urlparse(source)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme in ("", None) or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(source)
    return None


def _fetch(source: str, target: Path, entry: CatalogueModel, feedback, log) -> None:
    part = _part(target)
    mirror = _mirror_path(source)
    if mirror is not None:
        if not mirror.is_file():
            raise CatalogueError(f"not found in the folder {mirror.parent}")
        shutil.copyfile(mirror, part)
    else:
        _download(source, part, entry.size, feedback, log)
    if part.stat().st_size != entry.size or sha256(part) != entry.sha256:
        part.unlink(missing_ok=True)
        raise CatalogueError(f"the file's SHA-256 does not match the catalogue's "
                             f"({entry.sha256[:12]}...): it was deleted")
    os.replace(part, target)


SLACK = 64 * 2**10        # bytes a reply may exceed what was asked before it is cut off
REQUEST_TIMEOUT_S = 180   # one request (at most CHUNK bytes) must end within this: no trickle


def _get(url: str, first: int | None, last: int, feedback) -> tuple[int, bytes]:
    """(HTTP status, body) of one GET of bytes ``first..last`` (``first`` None: the whole file,
    for servers without range support), through QGIS's network manager (its proxy settings).

    The reply is read as it arrives, in this thread's own event loop, so it is bounded while it
    comes: it is aborted as soon as it carries more than was asked (plus ``SLACK``; a reply of
    hundreds of MB is never held), when it takes longer than ``REQUEST_TIMEOUT_S`` (an endless
    trickle never hangs the user), or when the user cancels."""
    request = QNetworkRequest(QUrl(url))
    request.setAttribute(QNetworkRequest.Attribute.RedirectPolicyAttribute,
                         QNetworkRequest.RedirectPolicy.NoLessSafeRedirectPolicy)
    if first is not None:
        request.setRawHeader(b"Range", f"bytes={first}-{last}".encode())
    cap = last + 1 - (first or 0) + SLACK
    reply = QgsNetworkAccessManager.instance().get(request)
    body, why = bytearray(), []
    loop = QEventLoop()

    def stop(reason: str) -> None:
        if not why:
            why.append(reason)
            reply.abort()

    def arrived() -> None:
        if first is not None and reply.attribute(
                QNetworkRequest.Attribute.HttpStatusCodeAttribute) == 200:
            stop("ranges ignored")        # the whole file follows: ask for it without a range
            return
        body.extend(bytes(reply.readAll()))
        if len(body) > cap:
            stop(f"the server sent more than the {cap - SLACK} bytes asked")

    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: stop(f"the server is too slow (a {cap - SLACK} byte request "
                                       f"took more than {REQUEST_TIMEOUT_S:g} s)"))
    reply.readyRead.connect(arrived)
    reply.finished.connect(loop.quit)
    if feedback is not None:
        feedback.canceled.connect(lambda: stop("cancelled"))
    timer.start(int(REQUEST_TIMEOUT_S * 1000))
    if not reply.isFinished():
        loop.exec()
    timer.stop()
    arrived()
    status = reply.attribute(QNetworkRequest.Attribute.HttpStatusCodeAttribute)
    error, message = reply.error(), reply.errorString()
    reply.deleteLater()
    if feedback is not None and feedback.isCanceled():
        raise Cancelled()
    if why == ["ranges ignored"]:
        return 200, b""
    if why:
        raise CatalogueError(why[0])
    if error != QNetworkReply.NetworkError.NoError or status not in (200, 206):
        raise CatalogueError(f"HTTP {status}" if status else message or "no answer")
    return status, bytes(body)


def _download(url: str, part: Path, size: int, feedback, log) -> None:
    """Range requests of CHUNK bytes appended to ``part`` (resumed from its length); a server
    without range support (a plain static file server) sends the whole file in one reply."""
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    if have and log:
        log(f"resuming the download at {have / 2**20:.1f} of {size / 2**20:.1f} MiB")
    with open(part, "ab") as out:
        while have < size:
            if feedback is not None and feedback.isCanceled():
                raise Cancelled()
            status, data = _get(url, have, min(have + CHUNK, size) - 1, feedback)
            if status == 200:                  # the server ignores ranges: the whole file
                if log:
                    log("the server does not send parts of files: downloading it whole")
                _status, data = _get(url, None, size - 1, feedback)
                out.seek(0)
                out.truncate()
                have = 0
            if not data:
                raise CatalogueError("the server sent no data")
            out.write(data)
            out.flush()
            have += len(data)
            if feedback is not None:
                feedback.setProgress(100.0 * have / size)


class DownloadTask(QgsTask):
    """:func:`ensure` in QGIS's task manager, with progress and cancel; ``on_done(task, ok)``
    runs on the main thread. ``path`` is the file, ``error`` the message when it failed."""

    def __init__(self, entry: CatalogueModel):
        super().__init__(f"Downloading the model {entry.title}", QgsTask.Flag.CanCancel)
        self.entry = entry
        self.path: Path | None = None
        self.error = ""
        self.on_done = None
        self._feedback = QgsFeedback()
        self._feedback.progressChanged.connect(self.setProgress)

    def cancel(self) -> None:
        self._feedback.cancel()
        super().cancel()

    def run(self) -> bool:
        try:
            self.path = ensure(self.entry, self._feedback)
            return True
        except Cancelled:
            self.error = "download cancelled; nothing was kept"
        except CatalogueError as exc:
            self.error = str(exc)
        except OSError as exc:
            self.error = f"the model could not be written to {cache_dir()}: {exc}"
        return False

    def finished(self, ok: bool) -> None:
        if self.on_done is not None:
            self.on_done(self, ok)
