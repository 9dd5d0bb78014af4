"""Package exported models as TorchServe .mar archives with torch-model-archiver.

Each archive carries the TorchScript model, calibration.json, the handler, the
``realcheck`` package it imports, and a model-config.yaml with the worker and
batching settings tuned in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Sequence

import yaml

from realcheck import __version__, spec

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ROOT / "handlers"
PACKAGE = ROOT / "realcheck"

# Per-model worker settings. On CPU, batching adds its delay without making a
# forward pass cheaper per image, so the default is batch 1 and one worker per
# model; `make bench` measures the alternatives. responseTimeout covers a
# cold explanation of a large image.
MODEL_CONFIG: Dict[str, dict] = {
    name: {
        "minWorkers": 1,
        "maxWorkers": 1,
        "batchSize": 1,
        "maxBatchDelay": 5,
        "responseTimeout": 120,
        "realcheck": {"max_pixels": spec.DEFAULT_MAX_PIXELS},
    }
    for name in spec.MODEL_NAMES
}


def add_archive_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=Path, default=Path("build/demo"), help="folder holding <model>/model.pt")
    parser.add_argument("--out", type=Path, default=Path("model_store"), help="where the .mar files go")
    parser.add_argument("--models", default=",".join(spec.MODEL_NAMES), help="comma list of models")
    parser.add_argument("--device-type", choices=("cpu", "gpu"), help="pin workers to CPU or GPU (default: GPU when present)")
    parser.add_argument("--batch-size", type=int, help="override the batch size in model-config.yaml")
    parser.add_argument("--workers", type=int, help="override min/max workers in model-config.yaml")
    parser.add_argument("--max-batch-delay", type=int, help="override maxBatchDelay (ms) in model-config.yaml")
    parser.add_argument(
        "--threads-per-worker", type=int, help="torch threads per CPU worker (default: the worker's cores / maxWorkers)"
    )


def model_config(
    name: str,
    device_type: str | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    max_batch_delay: int | None = None,
    threads_per_worker: int | None = None,
) -> dict:
    config = {**MODEL_CONFIG[name], "realcheck": dict(MODEL_CONFIG[name]["realcheck"])}
    if threads_per_worker:
        config["realcheck"]["threads_per_worker"] = threads_per_worker
    if device_type:
        config["deviceType"] = device_type
    if batch_size:
        config["batchSize"] = batch_size
    if max_batch_delay is not None:
        config["maxBatchDelay"] = max_batch_delay
    if workers:
        config["minWorkers"] = config["maxWorkers"] = workers
    return config


def build_archive(name: str, run_dir: Path, out_dir: Path, config: dict, staging: Path) -> Path:
    """Write ``out_dir/<name>.mar`` from ``run_dir/{model.pt,calibration.json}``."""
    model_path = run_dir / "model.pt"
    calibration = run_dir / spec.CALIBRATION_FILE
    for required in (model_path, calibration):
        if not required.exists():
            raise FileNotFoundError(f"{required} is missing: run `python -m training all` first")
    stage = staging / name
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    # torch-model-archiver copies a folder's *contents*, so the staging folder
    # holds the package folder itself, plus the shared handler base.
    shutil.copytree(PACKAGE, stage / "realcheck", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(HANDLERS / "realcheck_handler.py", stage)
    shutil.copy2(calibration, stage)
    config_path = staging / f"{name}-model-config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=True))
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).parent / "torch-model-archiver"),
        "--model-name", name,
        "--version", __version__,
        "--serialized-file", str(model_path),
        "--handler", str(HANDLERS / f"{name}_handler.py"),
        "--extra-files", str(stage),
        "--config-file", str(config_path),
        "--export-path", str(out_dir),
        "--force",
    ]  # fmt: skip
    subprocess.run(command, check=True)
    archive = out_dir / f"{name}.mar"
    print(f"wrote {archive} ({archive.stat().st_size / 1e6:.1f} MB)")
    return archive


def archive_all(
    runs: Path,
    out: Path,
    models: Sequence[str] = spec.MODEL_NAMES,
    device_type: str | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    max_batch_delay: int | None = None,
    threads_per_worker: int | None = None,
) -> list[Path]:
    staging = Path(runs) / ".mar-staging"
    try:
        return [
            build_archive(
                name,
                Path(runs) / name,
                Path(out),
                model_config(name, device_type, batch_size, workers, max_batch_delay, threads_per_worker),
                staging,
            )
            for name in models
        ]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run_archive(args: argparse.Namespace) -> list[Path]:
    return archive_all(
        args.runs,
        args.out,
        args.models.split(","),
        args.device_type,
        args.batch_size,
        args.workers,
        args.max_batch_delay,
        args.threads_per_worker,
    )
