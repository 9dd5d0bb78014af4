"""The load test's photographs: JPEG and PNG from 0.3 to 12 MP, made on this machine.

Nothing is downloaded: the sources are the sample photos that ship inside
scikit-image and scikit-learn (the synthetic training set uses them too).
Each is resized to a phone or web size and given mild sensor noise, so files
compress and decode like real photos instead of like smooth upscales.

The corpus is written once to a folder (``<size>-<format>-<n>.<ext>`` plus
``corpus.json``) that the Locust users, the raw in-process measurement and the
Flask baseline all read, so every side sees the same bytes.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Sequence, Tuple

import numpy as np
from PIL import Image

# Width x height of each size class: a web thumbnail, a web photo, a 12 MP phone photo.
SIZES: Mapping[str, Tuple[int, int]] = {"small": (640, 480), "medium": (1600, 1200), "large": (4000, 3000)}
FORMATS: Mapping[str, str] = {"jpeg": "jpg", "png": "png"}
PHOTOS_PER_CLASS = 2
JPEG_QUALITY = 90
# Sensor-like noise (8-bit levels): gives upscaled photos a realistic file size.
NOISE_SIGMA = 3.0
# Requests per image class in the realistic mix: mostly web-sized JPEGs,
# some PNG screenshots and exports, and a few full-size phone photos.
DEFAULT_MIX = "small-jpeg:4,small-png:1,medium-jpeg:4,medium-png:1,large-jpeg:2,large-png:1"
MANIFEST = "corpus.json"


def _sources() -> List[Callable[[], np.ndarray]]:
    # Imported here: only building the corpus needs them.
    import skimage.data
    from sklearn.datasets import load_sample_image

    return [
        skimage.data.astronaut,
        skimage.data.coffee,
        skimage.data.chelsea,
        skimage.data.rocket,
        lambda: load_sample_image("china.jpg"),
        lambda: load_sample_image("flower.jpg"),
    ]


def photo(index: int, size: Tuple[int, int]) -> Image.Image:
    """Sample photo ``index`` (cycling through the sources) at ``size``, with sensor noise."""
    sources = _sources()
    source = Image.fromarray(sources[index % len(sources)]()).convert("RGB")
    resized = np.asarray(source.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    noise = np.random.default_rng(index).normal(0.0, NOISE_SIGMA, resized.shape).astype(np.float32)
    return Image.fromarray(np.clip(resized + noise, 0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "jpeg":
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclasses.dataclass(frozen=True)
class CorpusImage:
    image_class: str  # "<size>-<format>", e.g. "medium-jpeg"
    path: Path
    width: int
    height: int

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


def build(folder: Path) -> List[CorpusImage]:
    """Write the corpus to ``folder`` unless its manifest is already there."""
    folder = Path(folder)
    if (folder / MANIFEST).exists():
        return load(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for size_name, size in SIZES.items():
        for index in range(PHOTOS_PER_CLASS):
            image = photo(index + PHOTOS_PER_CLASS * list(SIZES).index(size_name), size)
            for fmt, suffix in FORMATS.items():
                path = folder / f"{size_name}-{fmt}-{index}.{suffix}"
                path.write_bytes(encode(image, fmt))
                entries.append({"image_class": f"{size_name}-{fmt}", "file": path.name, "width": size[0], "height": size[1]})
    # The manifest goes last, so an interrupted build is redone.
    (folder / MANIFEST).write_text(json.dumps(entries, indent=1))
    return load(folder)


def load(folder: Path) -> List[CorpusImage]:
    entries = json.loads((Path(folder) / MANIFEST).read_text())
    return [CorpusImage(e["image_class"], Path(folder) / e["file"], e["width"], e["height"]) for e in entries]


def parse_mix(mix: str) -> Dict[str, float]:
    """``"medium-jpeg:4,large-png:1"`` -> ``{"medium-jpeg": 4.0, "large-png": 1.0}``; a bare name weighs 1."""
    weights: Dict[str, float] = {}
    for item in filter(None, (part.strip() for part in mix.split(","))):
        name, _, weight = item.partition(":")
        weights[name] = float(weight or 1)
    known = {f"{size}-{fmt}" for size in SIZES for fmt in FORMATS}
    unknown = set(weights) - known
    if unknown:
        raise ValueError(f"unknown image classes {sorted(unknown)}; known: {sorted(known)}")
    return weights


def select(corpus: Sequence[CorpusImage], mix: str) -> List[Tuple[CorpusImage, float]]:
    """Each image of the mix's classes with its request weight (a class's weight is shared by its photos)."""
    weights = parse_mix(mix)
    chosen = [image for image in corpus if weights.get(image.image_class, 0) > 0]
    per_class = {name: sum(1 for image in chosen if image.image_class == name) for name in weights}
    return [(image, weights[image.image_class] / per_class[image.image_class]) for image in chosen]
