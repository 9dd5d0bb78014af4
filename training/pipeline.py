"""``python -m training all``: synth (if synthetic) -> train -> calibrate -> evaluate -> export -> archive."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Dict, List

import torch

from realcheck import registry, spec

from . import archive, data, export, report, train
from .evaluate import evaluate_run

# Synthetic-set sizes per preset: tiny builds in seconds for tests.
SYNTH_SIZES: Dict[str, dict] = {
    "tiny": {"train_per_class": 10, "val_per_class": 6, "reddit": 4, "inpainted_train": 4, "inpainted_val": 3},
    "demo": {},
    "paper": {},
}
# The study's single-generator model (CNN-SD1.4) for the cross-generator table.
CROSS_GENERATOR = "stable_diffusion_v_1_4"


def add_all_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=spec.PRESETS, default="demo")
    train.add_data_args(parser)
    parser.add_argument("--out", type=Path, default=Path("build/demo"), help="run folder: <out>/{cnn,fcn,vit}/model.pt ...")
    parser.add_argument("--model-store", type=Path, default=Path("model_store"), help='where .mar files go ("" to skip)')
    parser.add_argument("--models", default=",".join(spec.MODEL_NAMES))
    parser.add_argument("--generators", default="all")
    parser.add_argument(
        "--cross-generator",
        default=CROSS_GENERATOR,
        help='also train a CNN on this one generator for the cross-generator table ("" to skip)',
    )
    parser.add_argument("--pretrained", default=None, help='"torchvision" or a local state_dict path (paper preset)')
    parser.add_argument("--augment", choices=("none", "robust"), default="none")
    parser.add_argument("--fcn-loss", choices=("bce", "mse"), default="bce")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=2)


def _train_args(args: argparse.Namespace, model: str, out: Path, generators: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    train.add_train_args(parser)
    command = ["--model", model, "--preset", args.preset, "--data", args.data, "--out", str(out)]
    command += ["--synthetic-dir", str(args.synthetic_dir), "--holdout", args.holdout, "--generators", generators]
    command += ["--augment", args.augment, "--fcn-loss", args.fcn_loss, "--seed", str(args.seed)]
    command += ["--device", args.device, "--workers", str(args.workers)]
    if args.pretrained:
        command += ["--pretrained", args.pretrained]
    return parser.parse_args(command)


def train_evaluate_export(args: argparse.Namespace, model: str, run_dir: Path, generators: str, compare_views: bool) -> dict:
    train_args = _train_args(args, model, run_dir, generators)
    train.train(train_args)
    layout = train.resolve_data(train_args)
    trained_on = data.select_generators(layout, generators)
    device = train.resolve_device(args.device)
    best = train.load_best(run_dir, model, args.preset, device)
    model_spec = registry.get_entry(model, args.preset).spec
    metrics = evaluate_run(run_dir, best, model_spec, layout, trained_on, device, args.workers, compare_views)
    export.export(best, model_spec, run_dir / "model.pt", data=str(layout.root), extra={"trained_on": trained_on})
    return metrics


def run_all(args: argparse.Namespace) -> Path:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timings: Dict[str, float] = {}
    if args.data == "synthetic":
        args.synthetic_dir = out / "synthetic"
        if not (args.synthetic_dir / data.MANIFEST).exists():
            from .synth import build_synthetic

            started = time.time()
            build_synthetic(args.synthetic_dir, seed=args.seed, **SYNTH_SIZES[args.preset])
            timings["synth"] = time.time() - started
    models: List[str] = args.models.split(",")
    for model in models:
        started = time.time()
        train_evaluate_export(args, model, out / model, args.generators, compare_views=model == "cnn")
        timings[model] = time.time() - started
    if args.cross_generator and "cnn" in models:
        started = time.time()
        train_evaluate_export(args, "cnn", out / f"cnn-{args.cross_generator}", args.cross_generator, compare_views=False)
        timings[f"cnn-{args.cross_generator}"] = time.time() - started
    timings = {k: round(v, 1) for k, v in timings.items()}
    (out / "timings.json").write_text(json.dumps({"preset": args.preset, "seconds": timings, "threads": torch.get_num_threads()}, indent=2) + "\n")
    report.write_report(out)
    if str(args.model_store):
        archive.archive_all(out, args.model_store, models)
    return out
