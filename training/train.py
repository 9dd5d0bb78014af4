"""Train one detector: ``python -m training train --model cnn --preset demo --data synthetic``."""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from realcheck import registry, spec

from . import data
from .engine import evaluate, make_criterion, train_one_epoch

CHECKPOINT = "checkpoint.pth"  # the latest epoch: model, optimizer, epoch, args (for --resume)
BEST = "best.pth"  # the lowest validation loss so far, as the study kept


def add_train_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=spec.MODEL_NAMES, required=True)
    parser.add_argument("--preset", choices=spec.PRESETS, default="demo")
    add_data_args(parser)
    parser.add_argument("--out", type=Path, help="run directory (default: runs/<model>-<preset>)")
    parser.add_argument("--generators", default="all", help='"all" seen generators, or a comma list of folder names')
    parser.add_argument("--epochs", type=int, help="default: the preset's")
    parser.add_argument("--lr", type=float, help="default: the preset's")
    parser.add_argument("--batch-size", type=int, help="default: the preset's")
    parser.add_argument("--steps-per-epoch", type=int, help="cap on steps per epoch (default: the preset's; 0 = full pass)")
    parser.add_argument("--finetune-epochs", type=int, help="FCN: epochs on the inpainted set (default: the preset's)")
    parser.add_argument("--finetune-lr", type=float, help="FCN: inpainting fine-tune rate (default: the preset's)")
    parser.add_argument("--fcn-loss", choices=("bce", "mse"), default="bce", help="FCN pixel loss; the study used mse")
    parser.add_argument("--augment", choices=("none", "robust"), default="none", help="robust: CNNDetection blur+JPEG")
    parser.add_argument(
        "--pretrained",
        default=None,
        help='"torchvision" (paper preset; needs the network) or a local state_dict path; default: from scratch',
    )
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pth")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help='"auto" (CUDA when present), "cpu" or "cuda:N"')
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes")


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="synthetic", help='a GenImage-layout folder, or "synthetic"')
    parser.add_argument("--synthetic-dir", type=Path, default=Path("build/synthetic"), help="where --data synthetic lives")
    parser.add_argument("--holdout", default="", help="generators kept out of training and tested as unseen (comma list)")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_data(args: argparse.Namespace) -> data.GenImageLayout:
    """The dataset layout; ``--data synthetic`` builds the synthetic set on first use."""
    if args.data == "synthetic":
        root = Path(args.synthetic_dir)
        if not (root / data.MANIFEST).exists():
            from .synth import build_synthetic

            build_synthetic(root, seed=args.seed)
    else:
        root = Path(args.data)
    return data.discover(root, [h for h in args.holdout.split(",") if h])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _loader(dataset: data.CropDataset, batch_size: int, shuffle: bool, workers: int, seed: int) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        collate_fn=data.collate_crops,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
    )


def _optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    return torch.optim.Adam(params, lr=lr)


def epoch_schedule(defaults: registry.TrainDefaults, generator_count: int, epochs: Optional[int]) -> Tuple[int, int]:
    """(epochs, the epoch whose rate drops, 0 for none) for a run on ``generator_count`` generators.

    ``epochs`` overrides the preset's; the drop moves with it, to the same fraction of training.
    """
    if epochs is None:
        one = generator_count == 1 and defaults.one_generator_epochs
        epochs = defaults.one_generator_epochs if one else defaults.epochs
    lr_drop_epoch = round(defaults.lr_drop_epoch * epochs / defaults.epochs) if defaults.lr_drop_epoch else 0
    return epochs, lr_drop_epoch


def train(args: argparse.Namespace) -> Path:
    """Train (and for the FCN, fine-tune on inpainted images); return the run directory."""
    entry = registry.get_entry(args.model, args.preset)
    defaults = entry.train
    lr = args.lr if args.lr is not None else defaults.lr
    batch_size = args.batch_size or defaults.batch_size
    max_steps = args.steps_per_epoch if args.steps_per_epoch is not None else defaults.steps_per_epoch
    finetune_epochs = args.finetune_epochs if args.finetune_epochs is not None else defaults.finetune_epochs
    finetune_lr = args.finetune_lr if args.finetune_lr is not None else defaults.finetune_lr
    out = Path(args.out or f"runs/{args.model}-{args.preset}")
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(args.seed)
    device = resolve_device(args.device)
    layout = resolve_data(args)
    generators = data.select_generators(layout, args.generators)
    epochs, lr_drop_epoch = epoch_schedule(defaults, len(generators), args.epochs)
    train_samples, val_samples = data.train_val_samples(layout, generators)
    if not train_samples or not val_samples:
        raise SystemExit(f"no training images found for generators {generators} under {layout.root}")

    model = registry.build_model(args.model, args.preset, weights=args.pretrained).to(device)
    criterion = make_criterion(args.model, args.fcn_loss)
    augment = data.robust_augment if args.augment == "robust" else None
    vertical_flip = args.model == "fcn"  # the study flipped FCN crops both ways

    def crops(samples, training):
        return data.CropDataset(samples, entry.spec, training, vertical_flip, augment, args.seed)

    stages = [("main", crops(train_samples, True), crops(val_samples, False), epochs, lr)]
    if args.model == "fcn" and finetune_epochs > 0 and layout.has_inpainted:
        # Inpainted images mixed with as many whole images, so fine-tuning
        # teaches localisation without forgetting whole-image fingerprints.
        inpainted = data.inpainted_samples(layout, "train")
        mixed = inpainted + random.Random(args.seed).sample(train_samples, min(len(inpainted), len(train_samples)))
        val_mixed = val_samples + data.inpainted_samples(layout, "val")
        stages.append(("finetune", crops(mixed, True), crops(val_mixed, False), finetune_epochs, finetune_lr))

    corrupt = data.CorruptLog()
    scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" else None
    history: List[dict] = []
    best_loss, start_stage, start_epoch = float("inf"), 0, 0
    checkpoint_path = out / CHECKPOINT
    if args.resume and checkpoint_path.exists():
        checkpoint = torch.load(checkpoint_path, map_location=device, weights_only=False)
        model.load_state_dict(checkpoint["model"])
        best_loss, history = checkpoint["best_val_loss"], checkpoint["history"]
        start_stage, start_epoch = checkpoint["stage"], checkpoint["epoch"] + 1
        print(f"resuming {out} at stage {stages[start_stage][0]} epoch {start_epoch}")
        resume_optimizer: Optional[dict] = checkpoint["optimizer"]
    else:
        resume_optimizer = None

    started = time.time()
    for stage_index, (stage, train_set, val_set, stage_epochs, stage_lr) in enumerate(stages):
        if stage_index < start_stage:
            continue
        optimizer = _optimizer(defaults.optimizer, model.parameters(), stage_lr)
        if resume_optimizer is not None and stage_index == start_stage:
            optimizer.load_state_dict(resume_optimizer)
        elif stage_index > 0:
            # The fine-tune stage validates on another set (inpainted images
            # added), so its losses do not compare with the main stage's: the
            # best fine-tuned epoch replaces the main stage's best.
            best_loss = float("inf")
        train_loader = _loader(train_set, batch_size, True, args.workers, args.seed)
        val_loader = _loader(val_set, batch_size, False, args.workers, args.seed)
        first = start_epoch if stage_index == start_stage else 0
        for epoch in range(first, stage_epochs):
            if stage == "main" and lr_drop_epoch and epoch >= lr_drop_epoch:
                for group in optimizer.param_groups:
                    group["lr"] = defaults.lr_after_drop
            train_set.epoch = epoch
            train_stats = train_one_epoch(
                model, criterion, args.model, optimizer, train_loader, device, epoch, corrupt, scaler, max_steps
            )
            val_stats = evaluate(model, criterion, args.model, val_loader, device, corrupt)
            improved = val_stats["loss"] < best_loss
            if improved:
                best_loss = val_stats["loss"]
                torch.save({"model": model.state_dict(), "stage": stage, "epoch": epoch, "val_loss": best_loss, "args": vars(args)}, out / BEST)
            history.append({"stage": stage, "epoch": epoch, "train": train_stats, "val": val_stats, "best": improved})
            print(
                f"[{args.model}/{args.preset}] {stage} epoch {epoch}: train loss {train_stats['loss']:.4f} "
                f"acc {train_stats['accuracy']:.3f} | val loss {val_stats['loss']:.4f} acc {val_stats['accuracy']:.3f}"
                + (" (best)" if improved else ""),
                flush=True,
            )
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "stage": stage_index,
                    "epoch": epoch,
                    "args": vars(args),
                    "best_val_loss": best_loss,
                    "history": history,
                },
                checkpoint_path,
            )
        start_epoch = 0
    summary = {
        "model": args.model,
        "preset": args.preset,
        "data": str(layout.root),
        "generators": generators,
        "train_images": len(train_samples),
        "val_images": len(val_samples),
        "epochs": epochs,
        "lr_drop_epoch": lr_drop_epoch,
        "seconds": round(time.time() - started, 1),
        "device": str(device),
        "corrupt": sorted(corrupt.paths),
        "history": history,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    (out / "train.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"[{args.model}/{args.preset}] trained in {summary['seconds']} s; {corrupt.report()}", flush=True)
    return out


def load_best(run_dir: Path, model_name: str, preset: str, device: torch.device | str = "cpu") -> torch.nn.Module:
    model = registry.build_model(model_name, preset)
    state = torch.load(Path(run_dir) / BEST, map_location=device, weights_only=False)
    model.load_state_dict(state["model"])
    return model.to(device).eval()
