"""Reading the GenImage layout (and the synthetic set, which uses the same one).

    <root>/<generator>/{train,val}/{ai,nature}/*      GenImage; one extra folder
                                                      level (imagenet_ai_0419_sdv4/) is tolerated
    <root>/<flat folder>/*                            all-AI images (the study's Reddit/DALL-E 3 set)
    <root>/inpainted/{train,val}/{images,masks}/*     real photos with AI regions; mask 255 = AI

The study split each generator's ``train`` folders 0.9/0.1 into training and
validation sets and tested on the ``val`` folders; so do we, deterministically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import random
from collections import Counter
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from PIL import Image, ImageFilter
from torch.utils.data import Dataset
from torchvision.transforms import functional as TF

from realcheck import preprocess, spec
from realcheck.imageio import ImageInputError, decode_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
INPAINTED_DIR = "inpainted"
VALIDATION_FRACTION = 0.1
MANIFEST = "dataset.json"


@dataclasses.dataclass(frozen=True)
class Sample:
    path: Path
    label: int  # spec.AI_INDEX or spec.REAL_INDEX
    group: str  # generator folder, "inpainted" or the flat folder's name
    mask: Optional[Path] = None  # per-pixel truth, inpainted samples only


@dataclasses.dataclass
class GenImageLayout:
    root: Path
    generators: List[str]  # folders with the GenImage split structure
    unseen: List[str]  # generators kept out of training, tested as "unseen"
    flat_ai: List[str]  # flat all-AI folders
    has_inpainted: bool

    @property
    def seen(self) -> List[str]:
        return [g for g in self.generators if g not in self.unseen]


def _images(folder: Path) -> List[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _split_dir(root: Path, generator: str) -> Path:
    """GenImage nests each generator once more (ADM/imagenet_ai_0508_adm/train); accept both."""
    folder = root / generator
    if not any((folder / s).is_dir() for s in spec.GENIMAGE_SPLITS):
        nested = [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
        if len(nested) == 1:
            return nested[0]
    return folder


def discover(root: Path, holdout: Sequence[str] = ()) -> GenImageLayout:
    """Find generators, flat AI folders and the inpainted set under ``root``.

    The generators kept out of training come from ``holdout`` or, for the
    synthetic set, from its dataset.json.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} does not exist")
    manifest = root / MANIFEST
    unseen = list(holdout)
    if not unseen and manifest.exists():
        declared = json.loads(manifest.read_text()).get("unseen")
        unseen = [declared] if isinstance(declared, str) else list(declared or [])
    generators, flat = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != INPAINTED_DIR):
        if (_split_dir(root, folder.name) / "val").is_dir() or (_split_dir(root, folder.name) / "train").is_dir():
            generators.append(folder.name)
        elif _images(folder):
            flat.append(folder.name)
    missing = set(unseen) - set(generators)
    if missing:
        raise ValueError(f"held-out generators not found under {root}: {sorted(missing)}")
    return GenImageLayout(root, generators, unseen, flat, (root / INPAINTED_DIR).is_dir())


def select_generators(layout: GenImageLayout, wanted: str | Sequence[str]) -> List[str]:
    """``"all"`` means every seen generator; otherwise a comma list or sequence of folder names."""
    if wanted == "all" or wanted == ["all"]:
        return layout.seen
    names = wanted.split(",") if isinstance(wanted, str) else list(wanted)
    unknown = [n for n in names if n not in layout.generators]
    if unknown:
        raise ValueError(f"unknown generators {unknown}; available: {layout.generators}")
    return names


def _class_samples(root: Path, generator: str, split: str) -> List[Sample]:
    base = _split_dir(root, generator) / split
    return [
        Sample(path, label, generator)
        for class_dir, label in spec.GENIMAGE_CLASS_DIRS.items()
        for path in _images(base / class_dir)
    ]


def _validation_split(samples: Sequence[Sample]) -> Tuple[List[Sample], List[Sample]]:
    """The study's 0.9/0.1 split, per class: the tenth of files whose name hashes lowest.

    Hashing names rather than shuffling keeps the split fixed across runs and
    machines, and taking ceil(10%) per class guarantees both classes in validation.
    """
    train, val = [], []
    for label in sorted({s.label for s in samples}):
        group = sorted((s for s in samples if s.label == label), key=lambda s: hashlib.sha1(s.path.name.encode()).digest())
        cut = math.ceil(VALIDATION_FRACTION * len(group))
        val += group[:cut]
        train += group[cut:]
    return train, val


def train_val_samples(layout: GenImageLayout, generators: Sequence[str]) -> Tuple[List[Sample], List[Sample]]:
    """The 0.9/0.1 split of the chosen generators' ``train`` folders."""
    train, val = [], []
    for generator in generators:
        generator_train, generator_val = _validation_split(_class_samples(layout.root, generator, "train"))
        train += generator_train
        val += generator_val
    return train, val


def test_samples(layout: GenImageLayout, generator: str) -> List[Sample]:
    return _class_samples(layout.root, generator, "val")


def flat_ai_samples(layout: GenImageLayout, folder: str) -> List[Sample]:
    return [Sample(p, spec.AI_INDEX, folder) for p in _images(layout.root / folder)]


def inpainted_samples(layout: GenImageLayout, split: str) -> List[Sample]:
    """Inpainted images count as AI at image level, as in the study; masks give the pixels."""
    base = layout.root / INPAINTED_DIR / split
    masks = {p.stem: p for p in _images(base / "masks")}
    return [
        Sample(p, spec.AI_INDEX, INPAINTED_DIR, masks[p.stem]) for p in _images(base / "images") if p.stem in masks
    ]


# ---------------------------------------------------------------------- loading


class CorruptLog:
    """Counts files that failed to decode, so a run reports them instead of crashing."""

    def __init__(self) -> None:
        self.paths: Counter[str] = Counter()

    def add(self, paths: Sequence[str]) -> None:
        self.paths.update(paths)

    def report(self) -> str:
        if not self.paths:
            return "corrupt files skipped: 0"
        shown = ", ".join(sorted(self.paths)[:10])
        return f"corrupt files skipped: {len(self.paths)} ({shown}{', ...' if len(self.paths) > 10 else ''})"


def load_rgb(path: Path) -> Optional[Image.Image]:
    try:
        return decode_image(path.read_bytes())
    except (ImageInputError, OSError):
        return None


def jpeg_recompress(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def robust_augment(image: Image.Image, rng: random.Random) -> Image.Image:
    """CNNDetection's (Wang et al., 2020) blur+JPEG augmentation, each with probability 0.1."""
    if rng.random() < 0.1:
        image = image.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.0, 3.0)))
    if rng.random() < 0.1:
        image = jpeg_recompress(image, rng.randint(30, 100))
    return image


class _SampleDataset(Dataset):
    """Decodes samples; a file that fails to decode comes back as its path, for the CorruptLog."""

    def __init__(self, samples: Sequence[Sample]):
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def _load(self, index: int) -> Tuple[Sample, Optional[Image.Image]]:
        sample = self.samples[index]
        return sample, load_rgb(sample.path)

    @staticmethod
    def _mask(sample: Sample, size: Tuple[int, int]) -> torch.Tensor:
        """The AI-pixel mask at the image's size, as bool ``[H, W]``."""
        return TF.pil_to_tensor(Image.open(sample.mask).convert("L").resize(size, Image.NEAREST))[0] > 127


class CropDataset(_SampleDataset):
    """Random native-resolution crops with flips, for training and validation loss.

    Items are ``(pixels [3,S,S] normalised, label, mask [S,S])``; whole images get
    a constant mask equal to their label, so the FCN trains on the same items.
    A file that fails to decode yields ``None``, which ``collate_crops`` drops and reports.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        model_spec: spec.ModelSpec,
        train: bool,
        vertical_flip: bool = False,
        augment: Optional[Callable[[Image.Image, random.Random], Image.Image]] = None,
        seed: int = 0,
    ):
        super().__init__(samples)
        self.spec = model_spec
        self.train = train
        self.vertical_flip = vertical_flip
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __getitem__(self, index: int):
        sample, image = self._load(index)
        if image is None:
            return str(sample.path)
        # Validation crops are the same every epoch so validation losses compare.
        rng = random.Random(hash((self.seed, self.epoch if self.train else 0, index)))
        if self.augment is not None and self.train:
            image = self.augment(image, rng)
        pixels = preprocess.unit_float(preprocess.to_tensor(image))  # float, to stack with the mask
        if sample.mask is not None:
            mask = self._mask(sample, image.size).float()
        else:
            mask = torch.full(pixels.shape[-2:], float(sample.label))
        stacked = preprocess.ensure_min_side(torch.cat([pixels, mask[None]]), self.spec.input_size)
        size = self.spec.input_size
        top = rng.randint(0, stacked.shape[1] - size)
        left = rng.randint(0, stacked.shape[2] - size)
        stacked = stacked[:, top : top + size, left : left + size]
        if self.train and rng.random() < 0.5:
            stacked = stacked.flip(-1)
        if self.train and self.vertical_flip and rng.random() < 0.5:
            stacked = stacked.flip(-2)
        pixels, mask = stacked[:3], (stacked[3] > 0.5).float()
        return preprocess.normalize(pixels, self.spec), sample.label, mask


def collate_crops(items):
    """Stack decodable items; pass the paths of undecodable ones back to the main process."""
    good = [item for item in items if not isinstance(item, str)]
    corrupt = [item for item in items if isinstance(item, str)]
    if not good:
        return None, None, None, corrupt
    pixels, labels, masks = zip(*good)
    return torch.stack(pixels), torch.tensor(labels), torch.stack(masks), corrupt


class ImageDataset(_SampleDataset):
    """Whole decoded uint8 images ``[3, H, W]``, for evaluation through a Detector.

    ``transform`` perturbs the PIL image first (JPEG recompression, resizing) for
    the robustness test sets.
    """

    def __init__(self, samples: Sequence[Sample], transform: Optional[Callable[[Image.Image], Image.Image]] = None):
        super().__init__(samples)
        self.transform = transform

    def __getitem__(self, index: int):
        sample, image = self._load(index)
        if image is None:
            return str(sample.path)
        if self.transform is not None:
            image = self.transform(image)
        mask = self._mask(sample, image.size) if sample.mask is not None else None
        return preprocess.to_tensor(image), sample.label, mask


def collate_images(items):
    good = [item for item in items if not isinstance(item, str)]
    corrupt = [item for item in items if isinstance(item, str)]
    return good, corrupt


def half_size(image: Image.Image) -> Image.Image:
    return image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.BICUBIC)


# Perturbed copies of the seen-generator test set: detectors that only ever saw
# pristine files fail on social-media copies, so the report measures both.
ROBUSTNESS_SETS: Dict[str, Callable[[Image.Image], Image.Image]] = {
    "jpeg75": lambda image: jpeg_recompress(image, 75),
    "resize05": half_size,
}
