"""A real HTTP server on 127.0.0.1 for the download tests: serves a folder with byte ranges
(RFC 7233, as release downloads do), and can be told to break: cut a transfer after some bytes,
answer 404, ignore ranges, send more than a range asked for, or trickle bytes slowly."""

from __future__ import annotations

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:      # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        srv: ModelServer = self.server.owner
        srv.requests.append((self.path, self.headers.get("Range")))
        path = srv.folder / self.path.lstrip("/").split("?")[0]
        if srv.status != 200 or not path.is_file():
            self.send_error(srv.status if srv.status != 200 else 404)
            return
        data = path.read_bytes()
        start, end = 0, len(data) - 1
        rng = self.headers.get("Range")
        partial = rng is not None and rng.startswith("bytes=") and srv.ranges
        if partial:
            a, _, b = rng[len("bytes="):].partition("-")
            start, end = int(a), min(int(b) if b else len(data) - 1, len(data) - 1)
        body = data[start:end + 1]
        if partial and srv.extra:
            body += bytes(srv.extra)            # far more than the range asked for
        self.send_response(206 if partial else 200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        if srv.cut_at is not None and start + len(body) > srv.cut_at:
            keep = max(srv.cut_at - start, 0)
            srv.cut_at = None                   # break once, like a dropped connection
            self.wfile.write(body[:keep])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        if srv.trickle:
            for i in range(len(body)):          # one byte at a time, slowly, for ever
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(srv.trickle)
                if srv.stopped:
                    return
            return
        self.wfile.write(body)


class ModelServer:
    """``with ModelServer(folder) as srv:`` -> ``srv.url`` is the base URL."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.status = 200
        self.ranges = True
        self.cut_at: int | None = None
        self.extra = 0                          # bytes added to every 206 reply
        self.trickle = 0.0                      # seconds between bytes (0: at once)
        self.stopped = False
        self.requests: list[tuple[str, str | None]] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> ModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopped = True
        with contextlib.suppress(Exception):
            self._httpd.shutdown()
            self._httpd.server_close()

    def __exit__(self, *exc) -> None:
        self.stop()
