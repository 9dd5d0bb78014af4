"""The one source of truth for labels, normalisation and input sizes.

Training, export, the serving handlers and the tests all read these values
from here; a trained model carries the values it was trained with in its
metadata (see ``ModelSpec.to_json``), so a served model never depends on the
current defaults.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping, Tuple

# Class index convention. "Positive" means AI everywhere: metrics, calibration
# targets, the CNN's single logit and the FCN's per-pixel logits all score AI.
LABELS: Tuple[str, str] = ("real", "ai")
REAL_INDEX = 0
AI_INDEX = 1

# GenImage folder names for each class, and the splits it ships.
GENIMAGE_CLASS_DIRS: Mapping[str, int] = {"nature": REAL_INDEX, "ai": AI_INDEX}
GENIMAGE_SPLITS: Tuple[str, str] = ("train", "val")

IMAGENET_MEAN: Tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: Tuple[float, float, float] = (0.229, 0.224, 0.225)
# The study normalised FCN inputs with mean 0.5 and std 0.5.
HALF_MEAN: Tuple[float, float, float] = (0.5, 0.5, 0.5)
HALF_STD: Tuple[float, float, float] = (0.5, 0.5, 0.5)

MODEL_NAMES: Tuple[str, str, str] = ("cnn", "fcn", "vit")
PRESETS: Tuple[str, str, str] = ("tiny", "demo", "paper")

# Square crop side (pixels) each preset analyses at native resolution.
INPUT_SIZES: Mapping[str, int] = {"tiny": 32, "demo": 64, "paper": 224}

# Generator fingerprints live in high frequencies, so images are analysed at
# native resolution: up to this many input-size crops, spread over the image,
# and their scores averaged. report.md measures this against resize and centre crop.
DEFAULT_VIEW_MODE = "multicrop"
VIEW_MODES: Tuple[str, ...] = ("multicrop", "center", "resize")
DEFAULT_NUM_CROPS = 5

# The FCN sees the whole image up to this long side; larger images are downscaled.
FCN_MAX_SIDE = 2048
# Decompression-bomb guard: images above this many pixels are refused.
DEFAULT_MAX_PIXELS = 40_000_000
# Explanations are computed on the image downscaled to at most this long side.
EXPLAIN_MAX_SIDE = 512

# Fraction of highest pixel logits averaged into the FCN's image-level score.
FCN_TOP_FRACTION = 0.1

METADATA_FILE = "realcheck.json"
CALIBRATION_FILE = "calibration.json"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What a model needs at inference time; it travels inside every export."""

    name: str
    preset: str
    input_size: int
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]
    labels: Tuple[str, str] = LABELS
    view_mode: str = DEFAULT_VIEW_MODE
    num_crops: int = DEFAULT_NUM_CROPS
    # How the raw score ``s`` that calibration maps to a probability is made.
    score: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ModelSpec":
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        for key in ("mean", "std", "labels"):
            values[key] = tuple(values[key])
        return cls(**values)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)
