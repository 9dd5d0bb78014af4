"""Heatmaps that show which pixels drove a verdict.

Grad-CAM and Guided Backpropagation come from Captum; attention rollout
(Abnar and Zuidema, 2020, as the study describes it) is short enough to write here.
Gradient methods need an eager module: ``eager_copy`` rebuilds one from the
registry and the served TorchScript model's own weights, so an archive only
carries one set of weights.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Callable, Dict

import numpy as np
import torch
from captum.attr import GuidedBackprop, LayerAttribution, LayerGradCam
from matplotlib import colormaps
from PIL import Image
from torch import nn

from . import preprocess, registry, spec

# Tiles explained per forward/backward pass: bounds the memory of one explanation.
TILE_BATCH = 16
OVERLAY_ALPHA = 0.55
_COLORMAP = (colormaps["inferno"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)

# Maps normalised ``[K, 3, S, S]`` tiles to ``[K, S, S]`` non-negative relevance.
TileExplainer = Callable[[torch.Tensor], torch.Tensor]


def eager_copy(model: nn.Module, model_spec: spec.ModelSpec) -> nn.Module:
    """An eager twin of a (possibly TorchScript) model with the same weights, ready for hooks."""
    eager = registry.build_model(model_spec.name, model_spec.preset)
    eager.load_state_dict(model.state_dict())
    # Captum's backward hooks cannot wrap in-place ReLUs, and torchvision's
    # ResNet reuses one ReLU module per block, which Guided Backprop must see per call.
    for module in eager.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    param = next(model.parameters())
    return eager.to(param.device).eval()


class _Signed(nn.Module):
    """Turns the single AI logit into the logit of the predicted class, so maps explain the verdict."""

    def __init__(self, model: nn.Module, sign: float):
        super().__init__()
        self.model = model
        self.sign = sign

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) * self.sign


def grad_cam(model: nn.Module, layer: nn.Module, sign: float) -> TileExplainer:
    cam = LayerGradCam(_Signed(model, sign), layer)

    def explain(tiles: torch.Tensor) -> torch.Tensor:
        maps = cam.attribute(tiles, target=0, relu_attributions=True)
        return LayerAttribution.interpolate(maps, tiles.shape[-2:], "bilinear")[:, 0].clamp_min(0)

    return explain


def guided_backprop(model: nn.Module, sign: float) -> TileExplainer:
    gbp = GuidedBackprop(_Signed(model, sign))

    def explain(tiles: torch.Tensor) -> torch.Tensor:
        return gbp.attribute(tiles, target=0).abs().amax(dim=1)

    return explain


def attention_rollout(vit: nn.Module) -> TileExplainer:
    """Rollout over all layers of a torchvision VisionTransformer.

    Each layer's attention is averaged over heads, the identity is added for the
    residual connection, rows are renormalised, and the layers are multiplied
    through; the class token's row over the patches is the map, upsampled bilinearly.
    """

    def explain(tiles: torch.Tensor) -> torch.Tensor:
        n = tiles.shape[0]
        hidden = vit._process_input(tiles)
        hidden = torch.cat([vit.class_token.expand(n, -1, -1), hidden], dim=1)
        hidden = vit.encoder.dropout(hidden + vit.encoder.pos_embedding)
        tokens = hidden.shape[1]
        eye = torch.eye(tokens, device=tiles.device)
        rollout = eye.expand(n, tokens, tokens)
        for block in vit.encoder.layers:
            normed = block.ln_1(hidden)
            attended, weights = block.self_attention(
                normed, normed, normed, need_weights=True, average_attn_weights=False
            )
            hidden = hidden + block.dropout(attended)
            hidden = hidden + block.mlp(block.ln_2(hidden))
            fused = weights.mean(dim=1) + eye
            rollout = (fused / fused.sum(dim=-1, keepdim=True)) @ rollout
        grid = int(math.isqrt(tokens - 1))
        cls_to_patches = rollout[:, 0, 1:].reshape(n, 1, grid, grid)
        return nn.functional.interpolate(cls_to_patches, size=tiles.shape[-2:], mode="bilinear", align_corners=False)[:, 0]

    return explain


def explain_tiled(
    pixels: torch.Tensor,
    model_spec: spec.ModelSpec,
    explainer: TileExplainer,
    device: torch.device,
    with_grad: bool,
) -> torch.Tensor:
    """Cover a ``[3, H, W]`` image with input-size tiles, explain each, and average the overlaps."""
    size = model_spec.input_size
    height, width = pixels.shape[-2:]
    boxes = [
        (top, left)
        for top in preprocess.crop_origins(height, size, math.ceil(height / size))
        for left in preprocess.crop_origins(width, size, math.ceil(width / size))
    ]
    total = torch.zeros(height, width)
    count = torch.zeros(height, width)
    for start in range(0, len(boxes), TILE_BATCH):
        chunk = boxes[start : start + TILE_BATCH]
        tiles = torch.stack([pixels[:, t : t + size, l : l + size] for t, l in chunk])
        tiles = preprocess.normalize(tiles, model_spec).to(device)
        if with_grad:
            maps = explainer(tiles.requires_grad_(True)).detach().cpu()
        else:
            with torch.no_grad():
                maps = explainer(tiles).cpu()
        for (top, left), tile_map in zip(chunk, maps):
            total[top : top + size, left : left + size] += tile_map
            count[top : top + size, left : left + size] += 1
    return total / count.clamp_min(1)


def unit_range(heat: torch.Tensor) -> np.ndarray:
    heat = heat.float()
    low, high = float(heat.min()), float(heat.max())
    scaled = (heat - low) / (high - low) if high > low else torch.zeros_like(heat)
    return scaled.numpy()


def render(pixels: torch.Tensor, heat: np.ndarray) -> Dict[str, object]:
    """The response entry for one heatmap: overlay PNG, heatmap PNG and their size."""
    colours = _COLORMAP[np.clip((heat * 255).round(), 0, 255).astype(np.uint8)]
    photo = (pixels.permute(1, 2, 0).numpy() * 255).round().astype(np.float32)
    overlay = ((1 - OVERLAY_ALPHA) * photo + OVERLAY_ALPHA * colours).round().astype(np.uint8)
    height, width = heat.shape
    return {"png": _png_base64(overlay), "heatmap_png": _png_base64(colours), "width": int(width), "height": int(height)}


def _png_base64(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    # Level 1: explanation PNGs are on the request path; size matters less than latency.
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
