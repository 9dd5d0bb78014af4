"""One place that maps a model name and a preset to a builder, like timm's registry.

* ``paper``: the study's architectures at 224 px (ResNet-50, FCN-ResNet50, ViT-L/16).
* ``demo``:  smaller members of the same three families that train from scratch on
  the synthetic set on 2 CPU cores.
* ``tiny``:  the smallest members, for tests.

Each builder returns a plain ``nn.Module`` whose ``forward`` returns one tensor:
``[N, 1]`` AI logits (cnn), ``[N, 1, H, W]`` per-pixel AI logits (fcn) or
``[N, 2]`` class logits in ``spec.LABELS`` order (vit).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models import resnet as tv_resnet
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.segmentation.fcn import FCN, FCNHead

from . import spec

# "torchvision" asks torchvision for its pretrained weights (needs the network
# or a warm torch hub cache); a path loads a local state_dict; None trains from scratch.
Weights = Optional[str]
TORCHVISION_WEIGHTS = "torchvision"


@dataclasses.dataclass(frozen=True)
class TrainDefaults:
    """The study's hyperparameters (paper) or ones that fit 2 CPU cores (demo, tiny)."""

    optimizer: str  # "sgd" or "adam"
    lr: float
    batch_size: int
    epochs: int
    # Training on a single generator: the study gave CNN-SD1.4 10 epochs
    # against CNN-ALL's 5. 0 = ``epochs``.
    one_generator_epochs: int = 0
    # The study lowered the ViT's rate after the first epochs; the demo models
    # do the same, because at a constant rate its validation loss keeps
    # jumping between epochs. The drop comes at the same fraction of training
    # when the epochs change. 0 = constant rate.
    lr_drop_epoch: int = 0
    lr_after_drop: float = 0.0
    # FCN: the study's inpainting fine-tune.
    finetune_lr: float = 1e-5
    finetune_epochs: int = 0
    steps_per_epoch: int = 0  # 0 = one full pass over the training set


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    name: str
    preset: str
    build: Callable[[], nn.Module]
    spec: spec.ModelSpec
    train: TrainDefaults
    # The module Grad-CAM attributes to (a dotted attribute path), for CNNs.
    cam_layer: str = ""


_REGISTRY: Dict[Tuple[str, str], ModelEntry] = {}

SCORE_DEFINITIONS = {
    "cnn": "s = the AI logit",
    "fcn": f"s = mean of the top {spec.FCN_TOP_FRACTION:.0%} per-pixel AI logits",
    "vit": "s = logit[ai] - logit[real] (the softmax log-odds)",
}
MEAN_STD = {
    "cnn": (spec.IMAGENET_MEAN, spec.IMAGENET_STD),
    "fcn": (spec.HALF_MEAN, spec.HALF_STD),
    "vit": (spec.IMAGENET_MEAN, spec.IMAGENET_STD),
}


def register(name: str, preset: str, train: TrainDefaults, cam_layer: str = ""):
    def decorator(build: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        mean, std = MEAN_STD[name]
        model_spec = spec.ModelSpec(
            name=name,
            preset=preset,
            input_size=spec.INPUT_SIZES[preset],
            mean=mean,
            std=std,
            score=SCORE_DEFINITIONS[name],
        )
        _REGISTRY[(name, preset)] = ModelEntry(name, preset, build, model_spec, train, cam_layer)
        return build

    return decorator


def get_entry(name: str, preset: str) -> ModelEntry:
    try:
        return _REGISTRY[(name, preset)]
    except KeyError:
        known = ", ".join(f"{n}/{p}" for n, p in sorted(_REGISTRY))
        raise KeyError(f"unknown model {name}/{preset}; known: {known}") from None


def build_model(name: str, preset: str, weights: Weights = None) -> nn.Module:
    """Build a model; ``weights`` is None, "torchvision" (paper preset only) or a state_dict path."""
    entry = get_entry(name, preset)
    if weights == TORCHVISION_WEIGHTS:
        if preset != "paper":
            raise ValueError("torchvision's pretrained weights exist only for the paper preset")
        return _PRETRAINED[name]()
    model = entry.build()
    if weights is not None:
        load_backbone_weights(model, Path(weights))
    return model


def load_backbone_weights(model: nn.Module, path: Path) -> None:
    """Load a local state_dict (e.g. torchvision's file, downloaded elsewhere).

    Tensors whose shapes differ (the replaced 1000-class or 21-class head) are
    skipped, so an ImageNet or COCO checkpoint initialises everything but the head.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("model", state)
    own = model.state_dict()
    prefix = _state_prefix(model)
    matched = {}
    for key, value in state.items():
        key = prefix + key if prefix + key in own else key
        if key in own and own[key].shape == value.shape:
            matched[key] = value
    if not matched:
        raise ValueError(f"{path} shares no parameters with this model")
    model.load_state_dict(matched, strict=False)


def _state_prefix(model: nn.Module) -> str:
    return "net." if isinstance(model, PixelLogits) else ""


# --------------------------------------------------------------------------- CNN


class SmallResNet(nn.Module):
    """A narrow ResNet (torchvision BasicBlocks) whose stem keeps full resolution.

    ResNet-50's stem (7x7 stride-2 conv, then max-pooling) divides the resolution
    by four before the first residual block. With ImageNet weights that is fine;
    trained from scratch on small crops it throws away the top octave where
    upsampling fingerprints live, and the model never learns them (measured: 50%
    after three epochs). Here the stem is a 3x3 stride-1 conv and the stages
    downsample by 2 from the second on, as in the CIFAR ResNets.
    """

    def __init__(self, widths: Tuple[int, int, int, int], num_classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        stages = []
        in_width = widths[0]
        for index, width in enumerate(widths):
            stride = 1 if index == 0 else 2
            downsample = None
            if stride != 1 or in_width != width:
                downsample = nn.Sequential(
                    nn.Conv2d(in_width, width, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(width)
                )
            stages.append(tv_resnet.BasicBlock(in_width, width, stride, downsample))
            in_width = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


DEMO_WIDTHS = (16, 32, 64, 128)
TINY_WIDTHS = (8, 16, 16, 32)


@register("cnn", "paper", TrainDefaults("sgd", 1e-2, 32, 5, one_generator_epochs=10), cam_layer="layer4")
def _cnn_paper() -> nn.Module:
    return tvm.resnet50(weights=None, num_classes=1)


# One synthetic generator holds a fifth of the images: 60 epochs on one make
# as many steps as 12 on all of them.
@register(
    "cnn", "demo", TrainDefaults("adam", 1e-3, 64, 12, one_generator_epochs=60, lr_drop_epoch=8, lr_after_drop=1e-4), cam_layer="layer4"
)
def _cnn_demo() -> nn.Module:
    return SmallResNet(DEMO_WIDTHS, 1)


@register("cnn", "tiny", TrainDefaults("adam", 1e-3, 16, 1, steps_per_epoch=4), cam_layer="layer4")
def _cnn_tiny() -> nn.Module:
    return SmallResNet(TINY_WIDTHS, 1)


def _cnn_pretrained() -> nn.Module:
    model = tvm.resnet50(weights=tvm.ResNet50_Weights.IMAGENET1K_V2)
    model.fc = nn.Linear(model.fc.in_features, 1)
    return model


# --------------------------------------------------------------------------- FCN


class PixelLogits(nn.Module):
    """Unwraps torchvision's segmentation output dict into a ``[N, 1, H, W]`` tensor."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)["out"]


def _small_fcn(widths: Tuple[int, int, int, int]) -> nn.Module:
    # SmallResNet's last stage has output stride 8: inpainted regions are
    # localised at 8-pixel granularity, then upsampled bilinearly by the FCN.
    backbone = IntermediateLayerGetter(SmallResNet(widths, 1), return_layers={"layer4": "out"})
    return PixelLogits(FCN(backbone, FCNHead(widths[-1], 1)))


@register("fcn", "paper", TrainDefaults("adam", 1e-3, 32, 5, finetune_epochs=100))
def _fcn_paper() -> nn.Module:
    return PixelLogits(tvm.segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=1, aux_loss=False))


@register("fcn", "demo", TrainDefaults("adam", 1e-3, 64, 6, lr_drop_epoch=4, lr_after_drop=1e-4, finetune_lr=1e-4, finetune_epochs=4))
def _fcn_demo() -> nn.Module:
    return _small_fcn(DEMO_WIDTHS)


@register("fcn", "tiny", TrainDefaults("adam", 1e-3, 16, 1, finetune_lr=1e-4, finetune_epochs=1, steps_per_epoch=4))
def _fcn_tiny() -> nn.Module:
    return _small_fcn(TINY_WIDTHS)


def _fcn_pretrained() -> nn.Module:
    net = tvm.segmentation.fcn_resnet50(weights=tvm.segmentation.FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1)
    net.classifier[4] = nn.Conv2d(512, 1, kernel_size=1)
    net.aux_classifier = None
    return PixelLogits(net)


# --------------------------------------------------------------------------- ViT


def _vit(preset: str, patch: int, layers: int, heads: int, hidden: int, mlp: int) -> nn.Module:
    return tvm.VisionTransformer(
        image_size=spec.INPUT_SIZES[preset],
        patch_size=patch,
        num_layers=layers,
        num_heads=heads,
        hidden_dim=hidden,
        mlp_dim=mlp,
        num_classes=len(spec.LABELS),
    )


@register("vit", "paper", TrainDefaults("adam", 0.05, 32, 10, lr_drop_epoch=5, lr_after_drop=1e-5))
def _vit_paper() -> nn.Module:
    return tvm.vit_l_16(weights=None, num_classes=len(spec.LABELS))


@register("vit", "demo", TrainDefaults("adam", 3e-4, 64, 12, lr_drop_epoch=8, lr_after_drop=3e-5))
def _vit_demo() -> nn.Module:
    # Patch 4: with 8 px patches the demo ViT never left chance (loss 0.693
    # for 8 epochs); fingerprints repeat every 2 pixels, and a patch embedding
    # is one linear map, so smaller patches give it more places to see them.
    return _vit("demo", patch=4, layers=4, heads=4, hidden=128, mlp=256)


@register("vit", "tiny", TrainDefaults("adam", 1e-3, 16, 1, steps_per_epoch=4))
def _vit_tiny() -> nn.Module:
    return _vit("tiny", patch=8, layers=2, heads=2, hidden=32, mlp=64)


def _vit_pretrained() -> nn.Module:
    model = tvm.vit_l_16(weights=tvm.ViT_L_16_Weights.IMAGENET1K_V1)
    model.heads.head = nn.Linear(model.heads.head.in_features, len(spec.LABELS))
    return model


_PRETRAINED: Dict[str, Callable[[], nn.Module]] = {
    "cnn": _cnn_pretrained,
    "fcn": _fcn_pretrained,
    "vit": _vit_pretrained,
}
