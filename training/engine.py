"""``train_one_epoch`` and ``evaluate``, in the style of torchvision's reference scripts."""

from __future__ import annotations

import contextlib
from typing import Callable, Dict, Iterable, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from realcheck import spec

from .data import CorruptLog

# (model output, image labels, pixel masks) -> scalar loss
Criterion = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def make_criterion(model_name: str, fcn_loss: str = "bce") -> Criterion:
    """The study's losses: BCE on the CNN's logit, cross-entropy on the ViT's two
    classes, and a per-pixel loss on the FCN (MSE on probabilities in the study)."""
    if model_name == "cnn":
        return lambda out, labels, masks: F.binary_cross_entropy_with_logits(out[:, 0], labels.float())
    if model_name == "vit":
        return lambda out, labels, masks: F.cross_entropy(out, labels)
    if model_name == "fcn":
        if fcn_loss == "mse":
            return lambda out, labels, masks: F.mse_loss(torch.sigmoid(out[:, 0]), masks)
        return lambda out, labels, masks: F.binary_cross_entropy_with_logits(out[:, 0], masks)
    raise ValueError(f"unknown model {model_name}")


def predicted_ai(model_name: str, out: torch.Tensor) -> torch.Tensor:
    """Image-level AI decisions from a batch of crops, for the running accuracy."""
    if model_name == "vit":
        return out.argmax(dim=1) == spec.AI_INDEX
    if model_name == "fcn":
        return out[:, 0].mean(dim=(-2, -1)) > 0
    return out[:, 0] > 0


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    # Mixed precision only where it pays: CUDA. CPU autocast slows these models down.
    return torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else contextlib.nullcontext()


class _Running:
    """Sample-weighted loss and accuracy over an epoch."""

    def __init__(self, model_name: str):
        self.model_name = model_name
        self.loss, self.correct, self.seen = 0.0, 0, 0

    def add(self, loss: torch.Tensor, out: torch.Tensor, labels: torch.Tensor) -> None:
        self.loss += loss.item() * len(labels)
        self.correct += int((predicted_ai(self.model_name, out.detach()) == (labels == spec.AI_INDEX)).sum())
        self.seen += len(labels)

    def summary(self) -> Dict[str, float]:
        return {"loss": self.loss / max(self.seen, 1), "accuracy": self.correct / max(self.seen, 1)}


def _batches(loader: Iterable, corrupt: CorruptLog, device: torch.device, max_steps: int = 0) -> Iterator[tuple]:
    """Decodable batches on the device; undecodable files go to the CorruptLog."""
    for step, (pixels, labels, masks, bad) in enumerate(loader):
        if max_steps and step >= max_steps:
            return
        corrupt.add(bad)
        if pixels is not None:
            yield pixels.to(device), labels.to(device), masks.to(device)


def train_one_epoch(
    model: nn.Module,
    criterion: Criterion,
    model_name: str,
    optimizer: torch.optim.Optimizer,
    loader,
    device: torch.device,
    epoch: int,
    corrupt: CorruptLog,
    scaler: Optional[torch.amp.GradScaler] = None,
    max_steps: int = 0,
) -> Dict[str, float]:
    model.train()
    running = _Running(model_name)
    steps = min(len(loader), max_steps) if max_steps else len(loader)
    progress = tqdm(_batches(loader, corrupt, device, steps), total=steps, desc=f"epoch {epoch}", leave=False, disable=None)
    for pixels, labels, masks in progress:
        with _autocast(device):
            out = model(pixels)
            loss = criterion(out.float(), labels, masks)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        running.add(loss, out, labels)
        stats = running.summary()
        progress.set_postfix(loss=f"{stats['loss']:.4f}", acc=f"{stats['accuracy']:.3f}")
    return running.summary()


def evaluate(
    model: nn.Module,
    criterion: Criterion,
    model_name: str,
    loader,
    device: torch.device,
    corrupt: CorruptLog,
) -> Dict[str, float]:
    """Validation loss and crop accuracy; the study kept the checkpoint with the lowest loss."""
    model.eval()
    running = _Running(model_name)
    with torch.inference_mode():
        for pixels, labels, masks in _batches(loader, corrupt, device):
            with _autocast(device):
                out = model(pixels)
            running.add(criterion(out.float(), labels, masks), out, labels)
    return running.summary()
