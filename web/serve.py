#!/usr/bin/env python3
"""Serve the realcheck page, and forward its API calls to TorchServe.

Static files come from web/ only. ``POST /api/{predictions|explanations}/{model}``
is forwarded to the TorchServe inference API given by ``--api``, with the
caller's ``Authorization`` header, so the browser talks to one origin and never
sends a CORS preflight. That matters because TorchServe 0.12 checks the token
on every request, the preflight ``OPTIONS`` included, and a browser never puts
the token on a preflight: a cross-origin call with a token always fails there.

Standard library only. Bound to 127.0.0.1 unless --host says otherwise.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import re
import select
import socket
import sys
import urllib.parse
from functools import partial
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090
DEFAULT_API = "http://127.0.0.1:8080"
# Matches the max_request_size in our TorchServe configs.
DEFAULT_MAX_BODY = 64 * 1024 * 1024
DEFAULT_TIMEOUT = 300.0

# Only the page's own files are served; anything else (serve.py itself, README) is 404.
STATIC_SUFFIXES = {".html", ".css", ".js", ".svg", ".png", ".ico", ".webmanifest"}
API_PATH = re.compile(r"^/api/(predictions|explanations)/([A-Za-z0-9_.-]{1,64})$")
CHUNK = 1024 * 1024

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # connect-src allows http(s) so that ?api= can point at another server.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self' http: https:; object-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
}


class Handler(http.server.SimpleHTTPRequestHandler):
    server_version = "realcheck-ui"
    sys_version = ""

    # Set by make_server().
    api: str = DEFAULT_API
    max_body: int = DEFAULT_MAX_BODY
    timeout_s: float = DEFAULT_TIMEOUT
    quiet: bool = False

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".css": "text/css",
        ".html": "text/html; charset=utf-8",
    }

    def end_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib signature)
        if not self.quiet:
            super().log_message(format, *args)

    # ---- static files -------------------------------------------------------

    def send_head(self):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/api/") or path == "/api":
            self.send_error(405 if API_PATH.match(path) else 404, "Use POST /api/{predictions|explanations}/{model}")
            return None
        if path != "/" and Path(path).suffix.lower() not in STATIC_SUFFIXES:
            self.send_error(404, "Not found")
            return None
        return super().send_head()

    def list_directory(self, path):
        self.send_error(404, "Not found")
        return None

    # ---- API proxy ----------------------------------------------------------

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        match = API_PATH.match(path)
        if not match:
            self.send_json(404, _error_body(404, "NotFound", "Only /api/predictions/{model} and /api/explanations/{model} accept POST."))
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.send_json(411, _error_body(411, "LengthRequired", "Send the image with a Content-Length header."))
            return
        if length > self.max_body:
            self._discard(length)
            self.send_json(413, {"error": "image_too_large",
                                 "detail": f"the body is {length} bytes; the limit is {self.max_body} bytes"})
            return
        body = self.rfile.read(length) if length > 0 else b""

        headers = {"Content-Type": self.headers.get("Content-Type") or "application/octet-stream"}
        if self.headers.get("Authorization"):
            headers["Authorization"] = self.headers["Authorization"]
        try:
            status, content_type, payload = self._forward(f"/{match.group(1)}/{match.group(2)}", headers, body)
        except (socket.timeout, TimeoutError):
            self.send_json(504, _error_body(504, "UpstreamTimeout", f"TorchServe at {self.api} did not answer within {self.timeout_s:.0f} s."))
            return
        except (ConnectionError, http.client.HTTPException, OSError) as err:
            self.send_json(502, _error_body(502, "UpstreamUnreachable", f"TorchServe at {self.api} is unreachable: {err}"))
            return
        self._relay(status, content_type, payload)

    def _forward(self, path: str, headers: dict, body: bytes) -> tuple[int, str | None, bytes]:
        """POST body to the upstream; returns (status, content type, payload).

        TorchServe answers an over-size body with 413 as soon as it has read the
        headers, then closes the connection while the body is still arriving.
        So the body goes in chunks, the socket is checked for an early answer
        between them, and a reset while sending still reads what was answered.
        """
        target = urllib.parse.urlsplit(self.api)
        conn_class = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        conn = conn_class(target.hostname, target.port, timeout=self.timeout_s)
        try:
            conn.putrequest("POST", target.path.rstrip("/") + path, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            try:
                for start in range(0, len(body), CHUNK):
                    if select.select([conn.sock], [], [], 0)[0]:
                        break  # the server has answered before reading everything
                    conn.send(body[start:start + CHUNK])
            except (BrokenPipeError, ConnectionResetError):
                pass
            answer = conn.getresponse()
            return answer.status, answer.getheader("Content-Type"), answer.read()
        finally:
            conn.close()

    def do_OPTIONS(self) -> None:
        # Same-origin callers never preflight; refuse cross-origin use of the proxy.
        self.send_json(405, _error_body(405, "MethodNotAllowed", "This proxy serves its own page only."))

    def _discard(self, length: int) -> None:
        # Read what the client sends so that it sees our 413 instead of a reset
        # connection; give up after the limit plus a margin.
        remaining = min(length, self.max_body * 4)
        while remaining > 0:
            chunk = self.rfile.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
        self.close_connection = True

    def _relay(self, status: int, content_type: str | None, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type or "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def send_json(self, status: int, obj: dict) -> None:
        self._relay(status, "application/json", json.dumps(obj).encode("utf-8"))


def _error_body(code: int, kind: str, message: str) -> dict:
    """Errors the proxy makes itself take TorchServe's shape: code, type, message."""
    return {"code": code, "type": kind, "message": message}


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_server(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, api: str = DEFAULT_API,
                max_body: int = DEFAULT_MAX_BODY, timeout_s: float = DEFAULT_TIMEOUT,
                quiet: bool = False) -> Server:
    parsed = urllib.parse.urlsplit(api)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"--api must be an http(s) URL, got {api!r}")
    handler = type("ConfiguredHandler", (Handler,), {
        "api": api.rstrip("/"), "max_body": max_body, "timeout_s": timeout_s, "quiet": quiet,
    })
    return Server((host, port), partial(handler, directory=str(WEB_DIR)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s)")
    parser.add_argument("--api", default=DEFAULT_API,
                        help="TorchServe inference API that /api/* is forwarded to (default %(default)s)")
    parser.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY,
                        help="largest upload forwarded, in bytes (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds to wait for TorchServe (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)

    server = make_server(args.host, args.port, args.api, args.max_body, args.timeout, args.quiet)
    host, port = server.server_address[:2]
    print(f"realcheck UI on http://{host}:{port}/ (forwarding /api to {args.api})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
