"""Calibrate on validation scores, then measure every test set: metrics.json and plots.

Test-set names: ``all`` (every seen generator's test folder), one per generator,
``unseen`` (generators kept out of training), ``inpainted``, each flat all-AI
folder, and the robustness copies of ``all``: ``jpeg75`` and ``resize05``.
"Positive" means AI everywhere.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score
from torch.utils.data import DataLoader

from realcheck import detector as detectors
from realcheck import registry, spec
from realcheck.calibration import IDENTITY, PlattScaler, fit_platt

from . import data

ECE_BINS = 15
THRESHOLD = detectors.THRESHOLD


@dataclasses.dataclass
class Scored:
    scores: np.ndarray
    labels: np.ndarray
    # FCN on masked sets: pixel true/false positives and false negatives, summed.
    pixel_counts: Optional[np.ndarray] = None


def score_samples(
    detector: detectors.Detector,
    samples: Sequence[data.Sample],
    corrupt: data.CorruptLog,
    transform: Optional[Callable[[Image.Image], Image.Image]] = None,
    view_mode: Optional[str] = None,
    workers: int = 2,
) -> Scored:
    loader = DataLoader(
        data.ImageDataset(samples, transform), batch_size=16, num_workers=workers, collate_fn=data.collate_images
    )
    scores: List[float] = []
    labels: List[int] = []
    counts = np.zeros(3, dtype=np.int64)
    has_masks = False
    for items, bad in loader:
        corrupt.add(bad)
        if not items:
            continue
        pixels = [item[0] for item in items]
        masks = [item[2] for item in items]
        if isinstance(detector, detectors.FCNDetector) and masks[0] is not None:
            has_masks = True
            for image, mask in zip(pixels, masks):
                logits = detector.pixel_logits(image)
                predicted = _resize_mask(logits > 0, mask.shape)
                counts += [int((predicted & mask).sum()), int((predicted & ~mask).sum()), int((~predicted & mask).sum())]
                scores.append(detector.score_pixels(logits)["raw_score"])
        else:
            scores.extend(r["raw_score"] for r in detector.raw_scores(pixels, view_mode))
        labels.extend(item[1] for item in items)
    return Scored(np.array(scores), np.array(labels), counts if has_masks else None)


def _resize_mask(mask: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    if mask.shape == shape:
        return mask
    resized = torch.nn.functional.interpolate(mask[None, None].float(), size=tuple(shape), mode="nearest")
    return resized[0, 0] > 0.5


def classification_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    guessed_ai = probabilities >= THRESHOLD
    was_ai = labels == spec.AI_INDEX
    both_classes = 0 < was_ai.sum() < len(labels)
    return {
        "n": int(len(labels)),
        "accuracy": float((guessed_ai == was_ai).mean()) if len(labels) else None,
        # Undefined on single-class sets (all-AI folders, inpainted).
        "roc_auc": float(roc_auc_score(was_ai, probabilities)) if both_classes else None,
        "ap": float(average_precision_score(was_ai, probabilities)) if both_classes else None,
        "confusion": {
            "ai_as_ai": int((was_ai & guessed_ai).sum()),
            "ai_as_real": int((was_ai & ~guessed_ai).sum()),
            "real_as_ai": int((~was_ai & guessed_ai).sum()),
            "real_as_real": int((~was_ai & ~guessed_ai).sum()),
        },
    }


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        chosen = which == b
        if chosen.any():
            error += chosen.mean() * abs(probabilities[chosen].mean() - labels[chosen].mean())
    return float(error)


def calibration_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    return {
        "ece": expected_calibration_error(probabilities, labels),
        "brier": float(np.mean((probabilities - labels) ** 2)),
        "nll": float(-np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))),
    }


def reliability_diagram(curves: Dict[str, np.ndarray], labels: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect")
    for name, probabilities in curves.items():
        which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, ECE_BINS - 1)
        filled = [b for b in range(ECE_BINS) if (which == b).any()]
        ax.plot(centres[filled], [labels[which == b].mean() for b in filled], "o-", label=name)
    ax.set_xlabel("predicted P(ai)")
    ax.set_ylabel("observed fraction AI")
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def test_sets(layout: data.GenImageLayout) -> Tuple[Dict[str, List[data.Sample]], Dict[str, List[str]]]:
    """The sets scored once each, and the unions (``all``, ``unseen``) built from their scores."""
    sets = {g: data.test_samples(layout, g) for g in layout.generators}
    if layout.has_inpainted:
        sets["inpainted"] = data.inpainted_samples(layout, "val")
    for folder in layout.flat_ai:
        sets[folder] = data.flat_ai_samples(layout, folder)
    sets = {name: samples for name, samples in sets.items() if samples}
    unions = {"all": [g for g in layout.seen if g in sets], "unseen": [g for g in layout.unseen if g in sets]}
    return sets, {name: parts for name, parts in unions.items() if parts}


def _union(parts: Sequence[Scored]) -> Scored:
    return Scored(np.concatenate([p.scores for p in parts]), np.concatenate([p.labels for p in parts]))


def evaluate_run(
    run_dir: Path,
    model: torch.nn.Module,
    model_spec: spec.ModelSpec,
    layout: data.GenImageLayout,
    trained_on: Sequence[str],
    device: torch.device | str = "cpu",
    workers: int = 2,
    compare_views: bool = False,
) -> dict:
    """Fit Platt scaling on the validation split, score every test set, write the results."""
    run_dir = Path(run_dir)
    corrupt = data.CorruptLog()
    raw = detectors.make_detector(model, model_spec, device=device)
    _, val_samples = data.train_val_samples(layout, trained_on)
    validation = score_samples(raw, val_samples, corrupt, workers=workers)
    a, b = fit_platt(validation.scores, validation.labels)
    scaler = PlattScaler(
        A=a,
        B=b,
        score=registry.SCORE_DEFINITIONS[model_spec.name],
        n=int(len(validation.labels)),
        validation_set=f"{layout.root.name}: 10% of train/ of {','.join(trained_on)}",
    )
    scaler.save(run_dir / spec.CALIBRATION_FILE)

    sets, unions = test_sets(layout)
    if "all" not in unions:
        raise ValueError(f"no test images for the seen generators under {layout.root}")
    scored = {name: score_samples(raw, samples, corrupt, workers=workers) for name, samples in sets.items()}
    scored = {**{name: _union([scored[p] for p in parts]) for name, parts in unions.items()}, **scored}
    seen_samples = [s for g in unions["all"] for s in sets[g]]
    for name, transform in data.ROBUSTNESS_SETS.items():
        scored[name] = score_samples(raw, seen_samples, corrupt, transform=transform, workers=workers)
    results: Dict[str, dict] = {}
    for name, result in scored.items():
        results[name] = classification_metrics(scaler.probability(result.scores), result.labels)
        if result.pixel_counts is not None:
            tp, fp, fn = result.pixel_counts
            results[name]["pixel"] = {"iou": float(tp / max(tp + fp + fn, 1)), "f1": float(2 * tp / max(2 * tp + fp + fn, 1))}
    scored_all = scored["all"]
    before = IDENTITY.probability(scored_all.scores)
    after = scaler.probability(scored_all.scores)
    labels_all = (scored_all.labels == spec.AI_INDEX).astype(np.float64)
    cal_before, cal_after = calibration_metrics(before, labels_all), calibration_metrics(after, labels_all)
    reliability_diagram(
        {"before (sigmoid of s)": before, "after Platt": after},
        labels_all,
        run_dir / "reliability.png",
        f"{model_spec.name}/{model_spec.preset} on test set 'all'",
    )
    metrics = {
        "model": model_spec.name,
        "preset": model_spec.preset,
        "trained_on": list(trained_on),
        "generators": list(layout.generators),
        "unseen": list(layout.unseen),
        "test_sets": results,
        "calibration": {
            "A": a,
            "B": b,
            "n": scaler.n,
            "measured_on": "all",
            **{f"{k}_before": v for k, v in cal_before.items()},
            **{f"{k}_after": v for k, v in cal_after.items()},
        },
        "corrupt_skipped": sorted(corrupt.paths),
    }
    if compare_views:
        by_mode = {
            mode: scored_all if mode == model_spec.view_mode else score_samples(raw, seen_samples, corrupt, view_mode=mode, workers=workers)
            for mode in spec.VIEW_MODES
        }
        metrics["view_modes"] = {
            mode: classification_metrics(scaler.probability(result.scores), result.labels) for mode, result in by_mode.items()
        }
    if "pixel" in results.get("inpainted", {}):
        metrics["pixel"] = results["inpainted"]["pixel"]
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
