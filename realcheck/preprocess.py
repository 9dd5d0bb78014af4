"""Image -> tensor, exactly as in evaluation; the one implementation every caller uses.

Generator fingerprints live in high frequencies, which resizing smooths away, so
images are analysed at native resolution through input-size crops ("views").
Images smaller than a crop are upscaled just enough to fit one.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import functional as TF

from . import spec


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> uint8 ``[3, H, W]``.

    Pixels stay 8-bit until a model reads them: the functions below accept
    uint8 (0..255) or float (0..1) pixels and convert only the crops they
    return, because converting a whole 12 MP photo to float took 170 ms to
    feed five 64 px crops (BENCHMARKS.md).
    """
    return TF.pil_to_tensor(image)


def unit_float(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (0..255) -> float in [0, 1]; float pixels pass through."""
    return pixels.float().div_(255.0) if pixels.dtype == torch.uint8 else pixels


def normalize(pixels: torch.Tensor, model_spec: spec.ModelSpec) -> torch.Tensor:
    """Apply the model's mean/std to ``[..., 3, H, W]`` pixels (uint8, or float in [0, 1])."""
    pixels = unit_float(pixels)
    mean = torch.tensor(model_spec.mean, dtype=pixels.dtype, device=pixels.device).view(3, 1, 1)
    std = torch.tensor(model_spec.std, dtype=pixels.dtype, device=pixels.device).view(3, 1, 1)
    return (pixels - mean) / std


def ensure_min_side(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """Upscale ``[3, H, W]`` so both sides are at least ``size``; larger images are untouched."""
    height, width = pixels.shape[-2:]
    if min(height, width) >= size:
        return pixels
    scale = size / min(height, width)
    new_size = (max(size, round(height * scale)), max(size, round(width * scale)))
    return _resize(pixels, new_size)


def limit_long_side(pixels: torch.Tensor, max_side: int) -> torch.Tensor:
    """Downscale ``[3, H, W]`` so its long side is at most ``max_side``."""
    height, width = pixels.shape[-2:]
    if max(height, width) <= max_side:
        return pixels
    scale = max_side / max(height, width)
    return _resize(pixels, (max(1, round(height * scale)), max(1, round(width * scale))), antialias=True)


def _resize(pixels: torch.Tensor, size: Tuple[int, int], antialias: bool = False) -> torch.Tensor:
    return F.interpolate(unit_float(pixels)[None], size=size, mode="bilinear", align_corners=False, antialias=antialias)[0]


def crop_origins(length: int, tile: int, count: int) -> List[int]:
    """``count`` evenly spaced crop starts covering [0, length), first and last flush with the edges."""
    if count <= 1 or length <= tile:
        return [max(0, (length - tile) // 2)]
    last = length - tile
    return sorted({round(i * last / (count - 1)) for i in range(count)})


def views(pixels: torch.Tensor, model_spec: spec.ModelSpec, mode: str | None = None) -> torch.Tensor:
    """The normalised ``[K, 3, S, S]`` crops a model scores for one ``[3, H, W]`` image.

    * ``multicrop``: the centre crop and the four corner crops at native resolution
      (fewer when the image is barely larger than a crop); scores are averaged.
    * ``center``: the centre crop alone.
    * ``resize``: the whole image squashed to ``S x S`` (what naive pipelines do).
    """
    mode = mode or model_spec.view_mode
    size = model_spec.input_size
    if mode == "resize":
        return normalize(_resize(pixels, (size, size), antialias=True), model_spec)[None]
    pixels = ensure_min_side(pixels, size)
    height, width = pixels.shape[-2:]
    center = ((height - size) // 2, (width - size) // 2)
    if mode == "center":
        boxes: Sequence[Tuple[int, int]] = [center]
    elif mode == "multicrop":
        corners = [(top, left) for top in crop_origins(height, size, 2) for left in crop_origins(width, size, 2)]
        boxes = list(dict.fromkeys([center, *corners]))[: model_spec.num_crops]
    else:
        raise ValueError(f"unknown view mode {mode!r}; expected one of {spec.VIEW_MODES}")
    crops = torch.stack([pixels[:, top : top + size, left : left + size] for top, left in boxes])
    return normalize(crops, model_spec)


def whole_image(pixels: torch.Tensor, model_spec: spec.ModelSpec, max_side: int = spec.FCN_MAX_SIDE) -> torch.Tensor:
    """The normalised ``[1, 3, H, W]`` input of a fully convolutional model: any size up to a cap."""
    pixels = ensure_min_side(limit_long_side(pixels, max_side), model_spec.input_size)
    return normalize(pixels, model_spec)[None]
