"""BASELINE, not a way to serve realcheck: the study's own serving design, for comparison.

One Flask process, one thread (torch's too), one request at a time, around the same
TorchScript model and the same ``realcheck.service`` logic as the TorchServe
handler, so a benchmark compares the serving runtime and nothing else. It
speaks the realcheck API (``POST /predictions/<model>``, ``/explanations/<model>``,
Bearer token from a TorchServe-style key_file.json it writes), so the same
Locust file drives both.

    python -m loadtest.baselines.flask_server --model-dir build/demo/cnn --port 8099 --workdir build/flask
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

import torch
from flask import Flask, Response, request

from realcheck import spec
from realcheck.detector import load_detector
from realcheck.service import DetectionService, Outcome, Request
from serving import launcher



def write_key_file(workdir: Path) -> str:
    """A fresh inference key in TorchServe's key_file.json layout, so clients read it the same way."""
    key = secrets.token_urlsafe(12)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / launcher.KEY_FILE).write_text(json.dumps({"inference": {"key": key}, "management": {"key": secrets.token_urlsafe(12)}}))
    return key


def create_app(service: DetectionService, model: str, key: str) -> Flask:
    app = Flask(__name__)

    def reply(outcome: Outcome) -> Response:
        return Response(outcome.json_bytes, status=outcome.status, mimetype="application/json")

    def answer(name: str, explain: bool) -> Response:
        if request.headers.get("Authorization") != f"Bearer {key}":
            return Response("Token Authorization failed", status=401)
        if name != model:
            return reply(Outcome(404, {"error": "invalid_request", "detail": f"This baseline serves {model} only."}))
        return reply(service.handle([Request(request.get_data(), explain=explain)])[0])

    app.add_url_rule("/ping", "ping", lambda: {"status": "Healthy"})
    app.add_url_rule("/predictions/<name>", "predictions", lambda name: answer(name, False), methods=["POST"])
    app.add_url_rule("/explanations/<name>", "explanations", lambda name: answer(name, True), methods=["POST"])
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.baselines.flask_server", description=__doc__)
    parser.add_argument("--model-dir", type=Path, required=True, help="holds model.pt and calibration.json")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True, help="where key_file.json is written")
    args = parser.parse_args(argv)
    # Single-threaded throughout. With torch's default (a thread per core) the
    # forward pass's threads wait for each other whenever another process holds
    # a core, and on a shared 2-core machine the baseline fell to ~1.5 req/s.
    torch.set_num_threads(1)
    detector = load_detector(args.model_dir / "model.pt", args.model_dir / spec.CALIBRATION_FILE)
    app = create_app(DetectionService(detector), detector.spec.name, write_key_file(args.workdir))
    # threaded=False: the naive design under test handles one request at a time.
    app.run(args.host, args.port, threaded=False, processes=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
