"""The detection logic behind every runtime: score, calibrate and explain images.

``Detector`` is plain, typed Python over any ``nn.Module`` (eager or TorchScript),
so training's evaluation, the TorchServe handlers and the tests all run the same
code. One subclass per model family says how its output becomes a score and
how it explains itself.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Type

import numpy as np
import torch
from PIL import Image
from torch import nn

from . import __version__, explain, preprocess, registry, spec
from .calibration import IDENTITY, PlattScaler

THRESHOLD = 0.5


class Detector:
    """Scores RGB images; positive (probability_ai) means AI-generated."""

    explanation_names: Sequence[str] = ()

    def __init__(
        self,
        model: nn.Module,
        model_spec: spec.ModelSpec,
        calibration: PlattScaler = IDENTITY,
        version: str = __version__,
        device: torch.device | str = "cpu",
    ):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.spec = model_spec
        self.calibration = calibration
        self.version = version
        self.calibrated = calibration is not IDENTITY
        self._eager: Optional[nn.Module] = None

    # ------------------------------------------------------------------ scoring

    def raw_scores(self, images: Sequence[torch.Tensor], view_mode: str | None = None) -> List[Dict[str, float]]:
        """Per image: ``{"raw_score": s, ...}`` plus model-specific extras. Images are ``[3, H, W]`` in [0, 1]."""
        batch = [preprocess.views(pixels, self.spec, view_mode) for pixels in images]
        with torch.inference_mode():
            outputs = self.model(torch.cat(batch).to(self.device)).float().cpu()
        scores = self.view_scores(outputs).split([len(views) for views in batch])
        return [{"raw_score": float(s.mean())} for s in scores]

    def view_scores(self, outputs: torch.Tensor) -> torch.Tensor:
        """One raw score per view from the model's batched output."""
        raise NotImplementedError

    def predict(self, images: Sequence[Image.Image]) -> List[dict]:
        """The response body for each image, as in schemas/prediction.schema.json."""
        results = self.raw_scores([preprocess.to_tensor(image) for image in images])
        return [self._response(result) for result in results]

    def _response(self, result: Dict[str, float]) -> dict:
        probability_ai = float(self.calibration.probability(result["raw_score"]))
        return {
            "model": self.spec.name,
            "model_version": self.version,
            "label": spec.LABELS[spec.AI_INDEX] if probability_ai >= THRESHOLD else spec.LABELS[spec.REAL_INDEX],
            "probability_ai": probability_ai,
            "probability_real": 1.0 - probability_ai,
            "raw_score": result["raw_score"],
            "calibrated": self.calibrated,
            "threshold": THRESHOLD,
            **{k: v for k, v in result.items() if k != "raw_score"},
        }

    # ------------------------------------------------------------- explanations

    def explain(self, image: Image.Image) -> dict:
        """The prediction plus ``explanations``: one overlay and heatmap per method."""
        pixels = preprocess.to_tensor(image)
        response = self._response(self.raw_scores([pixels])[0])
        shown = preprocess.ensure_min_side(preprocess.limit_long_side(pixels, spec.EXPLAIN_MAX_SIDE), self.spec.input_size)
        shown = preprocess.unit_float(shown)  # after the downscale: only the shown pixels become float
        maps = self.heatmaps(shown, predicted_ai=response["label"] == spec.LABELS[spec.AI_INDEX])
        response["explanations"] = {name: explain.render(shown, heat) for name, heat in maps.items()}
        return response

    def heatmaps(self, pixels: torch.Tensor, predicted_ai: bool) -> Dict[str, np.ndarray]:
        raise NotImplementedError

    @property
    def eager(self) -> nn.Module:
        """An eager twin for gradient methods, built once from the served weights."""
        if self._eager is None:
            self._eager = explain.eager_copy(self.model, self.spec)
        return self._eager


class CNNDetector(Detector):
    explanation_names = ("grad_cam", "guided_backprop")

    def view_scores(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs[:, 0]

    def heatmaps(self, pixels: torch.Tensor, predicted_ai: bool) -> Dict[str, np.ndarray]:
        sign = 1.0 if predicted_ai else -1.0
        layer = self.eager.get_submodule(registry.get_entry(self.spec.name, self.spec.preset).cam_layer)
        explainers = {
            "grad_cam": explain.grad_cam(self.eager, layer, sign),
            "guided_backprop": explain.guided_backprop(self.eager, sign),
        }
        return {
            name: explain.unit_range(explain.explain_tiled(pixels, self.spec, fn, self.device, with_grad=True))
            for name, fn in explainers.items()
        }


class ViTDetector(Detector):
    explanation_names = ("attention_rollout",)

    def view_scores(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs[:, spec.AI_INDEX] - outputs[:, spec.REAL_INDEX]

    def heatmaps(self, pixels: torch.Tensor, predicted_ai: bool) -> Dict[str, np.ndarray]:
        rollout = explain.attention_rollout(self.eager)
        heat = explain.explain_tiled(pixels, self.spec, rollout, self.device, with_grad=False)
        return {"attention_rollout": explain.unit_range(heat)}


class FCNDetector(Detector):
    """Scores the whole image at once; the image score aggregates the pixel logits."""

    explanation_names = ("pixel_map",)

    def pixel_logits(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[H', W']`` AI logits for a ``[3, H, W]`` image (H', W' after the size cap)."""
        with torch.inference_mode():
            inputs = preprocess.whole_image(pixels, self.spec).to(self.device)
            return self.model(inputs)[0, 0].float().cpu()

    def raw_scores(self, images: Sequence[torch.Tensor], view_mode: str | None = None) -> List[Dict[str, float]]:
        # Images differ in size, so each is one forward pass; view_mode does not apply.
        return [self.score_pixels(self.pixel_logits(pixels)) for pixels in images]

    @staticmethod
    def score_pixels(logits: torch.Tensor) -> Dict[str, float]:
        flat = logits.flatten()
        top = flat.topk(max(1, math.ceil(spec.FCN_TOP_FRACTION * flat.numel()))).values
        return {"raw_score": float(top.mean()), "ai_pixel_fraction": float((flat > 0).float().mean())}

    def heatmaps(self, pixels: torch.Tensor, predicted_ai: bool) -> Dict[str, np.ndarray]:
        # The study showed the FCN's own output as its explanation: P(ai) per pixel, not rescaled.
        probabilities = torch.sigmoid(self.pixel_logits(pixels))
        if probabilities.shape != pixels.shape[-2:]:
            probabilities = nn.functional.interpolate(probabilities[None, None], size=pixels.shape[-2:], mode="bilinear")[0, 0]
        return {"pixel_map": probabilities.numpy()}


DETECTORS: Dict[str, Type[Detector]] = {"cnn": CNNDetector, "fcn": FCNDetector, "vit": ViTDetector}


def make_detector(model: nn.Module, model_spec: spec.ModelSpec, **kwargs) -> Detector:
    return DETECTORS[model_spec.name](model, model_spec, **kwargs)


def load_scripted(path: Path, device: torch.device | str = "cpu") -> tuple[torch.jit.ScriptModule, dict]:
    """Load an exported model and the metadata embedded in it."""
    extra = {spec.METADATA_FILE: ""}
    model = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    return model, json.loads(extra[spec.METADATA_FILE])


def load_detector(model_path: Path, calibration_path: Path | None = None, device: torch.device | str = "cpu") -> Detector:
    """A detector from an exported model.pt and (optionally) its calibration.json."""
    model, metadata = load_scripted(Path(model_path), device)
    calibration = PlattScaler.load(calibration_path) if calibration_path and Path(calibration_path).exists() else IDENTITY
    return make_detector(
        model,
        spec.ModelSpec.from_json(metadata["spec"]),
        calibration=calibration,
        version=metadata.get("version", __version__),
        device=device,
    )
