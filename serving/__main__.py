"""``python -m serving {start,stop}``: what `make serve` and `make stop` run."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import launcher


def print_usage(server: launcher.Server) -> None:
    key_file = server.workdir / launcher.KEY_FILE
    image = "examples/ai.png"
    print(
        f"""
realcheck is serving {', '.join(server.models)} (all READY).

  key file         {key_file}
  inference key    {server.inference_key}
  management key   {server.management_key}
  inference API    {server.inference_url}
  management API   {server.management_url}
  metrics          {server.metrics_url}/metrics   (Prometheus)
  web page         run `make ui` and open http://127.0.0.1:8090 (it forwards to the inference API)

  INFERENCE_KEY=$(python3 -c "import json;print(json.load(open('{key_file}'))['inference']['key'])")
  MANAGEMENT_KEY=$(python3 -c "import json;print(json.load(open('{key_file}'))['management']['key'])")

  # a calibrated verdict
  curl -s -H "Authorization: Bearer $INFERENCE_KEY" -H "Content-Type: application/octet-stream" --data-binary @{image} {server.inference_url}/predictions/cnn
  # the verdict plus heatmaps (base64 PNGs)
  curl -s -H "Authorization: Bearer $INFERENCE_KEY" -H "Content-Type: application/octet-stream" --data-binary @{image} {server.inference_url}/explanations/cnn
  # two CNN workers, then back to one
  curl -s -X PUT -H "Authorization: Bearer $MANAGEMENT_KEY" "{server.management_url}/models/cnn?min_worker=2&synchronous=true"
  curl -s -X PUT -H "Authorization: Bearer $MANAGEMENT_KEY" "{server.management_url}/models/cnn?min_worker=1&max_worker=1&synchronous=true"

Stop it with `make stop`.
"""
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start TorchServe in the background and wait for READY")
    start.add_argument("--model-store", type=Path, default=Path("model_store"))
    start.add_argument("--workdir", type=Path, default=Path("build/serve"), help="key_file.json and logs go here")
    start.add_argument("--models", default=",".join(launcher.MODELS))
    start.add_argument("--timeout", type=float, default=300)
    stop = commands.add_parser("stop", help="stop the TorchServe started by `start`")
    stop.add_argument("--workdir", type=Path, default=Path("build/serve"))
    args = parser.parse_args(argv)
    if args.command == "start":
        started = time.monotonic()
        server = launcher.start(
            args.model_store,
            args.workdir,
            args.models.split(","),
            overrides=launcher.quiet_logs(),
            foreground=False,
            timeout=args.timeout,
        )
        print_usage(server)
        print(f"ready in {time.monotonic() - started:.1f} s")
    else:
        launcher.stop_daemon(args.workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
