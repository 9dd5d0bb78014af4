"""Platt scaling: ``p(ai) = 1 / (1 + exp(A * s + B))`` fitted on validation scores.

The fit is Newton's method with backtracking on the log-loss against Platt's
smoothed targets, following Lin, Lin and Weng (2007), "A note on Platt's
probabilistic outputs for support vector machines".
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np


@dataclasses.dataclass(frozen=True)
class PlattScaler:
    A: float
    B: float
    # What the raw score s is, how many validation samples fitted it, and which.
    score: str = ""
    n: int = 0
    validation_set: str = ""

    def probability(self, scores: np.ndarray | float) -> np.ndarray:
        z = self.A * np.asarray(scores, dtype=np.float64) + self.B
        # Two branches keep exp() from overflowing for large |z|.
        return np.where(z >= 0, np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))), 1.0 / (1.0 + np.exp(-np.abs(z))))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "PlattScaler":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})

    def save(self, path: Path, extra: Mapping[str, Any] | None = None) -> None:
        path.write_text(json.dumps({**self.to_json(), **(extra or {})}, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> "PlattScaler":
        return cls.from_json(json.loads(Path(path).read_text()))


IDENTITY = PlattScaler(A=-1.0, B=0.0, score="uncalibrated: p = sigmoid(s)")


def fit_platt(scores: np.ndarray, labels: np.ndarray, max_iter: int = 100, tol: float = 1e-10) -> tuple[float, float]:
    """Return (A, B) minimising the log-loss of ``1 / (1 + exp(A s + B))`` against labels (1 = AI)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("Platt scaling needs validation samples of both classes")
    # Platt's smoothed targets keep the fit from driving |A| to infinity on separable data.
    hi, lo = (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0)
    targets = np.where(labels == 1, hi, lo)

    def loss(a: float, b: float) -> float:
        z = a * scores + b
        # log(1 + exp(z)) - (1 - t) * z, the stable form of the cross-entropy.
        return float(np.sum(np.logaddexp(0.0, z) - (1.0 - targets) * z))

    a, b = 0.0, float(np.log((n_neg + 1.0) / (n_pos + 1.0)))
    current = loss(a, b)
    for _ in range(max_iter):
        z = a * scores + b
        p = 1.0 / (1.0 + np.exp(np.clip(z, -500, 500)))  # p = P(ai)
        d1 = targets - p  # dL/dz
        d2 = p * (1.0 - p)
        h11 = float(np.sum(scores * scores * d2)) + 1e-12
        h22 = float(np.sum(d2)) + 1e-12
        h21 = float(np.sum(scores * d2))
        g1, g2 = float(np.sum(scores * d1)), float(np.sum(d1))
        if abs(g1) < 1e-5 and abs(g2) < 1e-5:
            break
        det = h11 * h22 - h21 * h21
        da = -(h22 * g1 - h21 * g2) / det
        db = -(-h21 * g1 + h11 * g2) / det
        step = 1.0
        while step >= 1e-10:
            new = loss(a + step * da, b + step * db)
            if new < current + 1e-4 * step * (g1 * da + g2 * db):
                a, b, current = a + step * da, b + step * db, new
                break
            step /= 2.0
        else:
            break
        if step * max(abs(da), abs(db)) < tol:
            break
    return a, b
