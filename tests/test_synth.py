"""The synthetic GenImage stand-in: layout, determinism, inpainting masks, and no label leaks."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from realcheck.spec import GENIMAGE_CLASS_DIRS, INPUT_SIZES
from training.data import MANIFEST
from training.synth import GENERATORS, UNSEEN, add_synth_args, build_synthetic, run_synth

# Enough files for the leak test: 5 seen generators x 32 train + 6 x 8 val = 208 per class.
MODERATE = dict(train_per_class=32, val_per_class=8, reddit=6, inpainted_train=10, inpainted_val=6)
TINY = dict(train_per_class=3, val_per_class=2, reddit=2, inpainted_train=2, inpainted_val=1)


@pytest.fixture(scope="module")
def moderate(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synth") / "data"
    return root, build_synthetic(root, seed=3, **MODERATE)


def _images(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".png", ".jpg"))


def _classified(root: Path) -> List[Tuple[Path, int]]:
    return [
        (path, label)
        for path in sorted(root.glob("*/*/*/*"))
        for class_dir, label in GENIMAGE_CLASS_DIRS.items()
        if path.parent.name == class_dir
    ]


def _hashes(root: Path) -> Dict[str, str]:
    files = (p for p in root.rglob("*") if p.is_file())
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


# ---------------------------------------------------------------------- layout


def test_layout_counts_and_manifest(moderate: Tuple[Path, dict]) -> None:
    root, manifest = moderate
    assert json.loads((root / "dataset.json").read_text()) == manifest
    assert manifest["kind"] == "synthetic" and manifest["seed"] == 3
    assert manifest["unseen"] == UNSEEN and UNSEEN in manifest["generators"]
    assert len(manifest["generators"]) == 6
    train, test = set(manifest["photos"]["train"]), set(manifest["photos"]["test"])
    assert train and test and not train & test
    # The stereo pair shows one scene, so it must not straddle the split.
    assert {"motorcycle_left", "motorcycle_right"} <= train or {"motorcycle_left", "motorcycle_right"} <= test

    for generator in GENERATORS:
        assert (root / generator / "train").exists() == (generator != UNSEEN)
        for split, count in (("train", MODERATE["train_per_class"]), ("val", MODERATE["val_per_class"])):
            if generator == UNSEEN and split == "train":
                continue
            for class_dir in GENIMAGE_CLASS_DIRS:
                assert len(_images(root / generator / split / class_dir)) == count, (generator, split, class_dir)
    assert len(_images(root / "reddit")) == MODERATE["reddit"]

    for path, _ in _classified(root):
        with Image.open(path) as image:
            assert image.mode == "RGB"
            assert all(side % 2 == 0 and 80 <= side <= 160 for side in image.size), path
            assert min(image.size) >= INPUT_SIZES["demo"]
            assert not image.info.get("exif")


def test_inpainted_masks_match_images(moderate: Tuple[Path, dict]) -> None:
    root, _ = moderate
    for split in ("train", "val"):
        images = _images(root / "inpainted" / split / "images")
        masks = {p.stem: p for p in _images(root / "inpainted" / split / "masks")}
        assert len(images) == 2 * MODERATE[f"inpainted_{split}"]
        assert sorted(masks) == sorted(p.stem for p in images)
        for image_path in images:
            with Image.open(image_path) as image, Image.open(masks[image_path.stem]) as mask:
                assert mask.mode == "L" and mask.size == image.size
                assert set(np.unique(np.asarray(mask))) <= {0, 255}


def test_inpainted_ai_pixels_are_half(moderate: Tuple[Path, dict]) -> None:
    root, _ = moderate
    masks = [np.asarray(Image.open(p)) > 127 for p in sorted(root.glob("inpainted/*/masks/*.png"))]
    fractions = [m.mean() for m in masks]
    # Each object mask is paired with its inverse ("AI background").
    assert 0.25 <= min(fractions) and max(fractions) <= 0.75
    overall = sum(m.sum() for m in masks) / sum(m.size for m in masks)
    assert abs(overall - 0.5) <= 0.01


# ---------------------------------------------------------------- determinism


def test_same_seed_same_bytes_any_workers(tmp_path: Path) -> None:
    build_synthetic(tmp_path / "a", seed=5, **TINY)
    build_synthetic(tmp_path / "b", seed=5, workers=2, **TINY)
    build_synthetic(tmp_path / "c", seed=6, **TINY)
    a, b, c = (_hashes(tmp_path / name) for name in "abc")
    assert a == b
    differing = {name for name in set(a) | set(c) if a.get(name) != c.get(name)}
    assert len(differing) > len(a) // 2


def test_rebuild_replaces_an_earlier_build_but_nothing_else(tmp_path: Path) -> None:
    root = tmp_path / "data"
    build_synthetic(root, **TINY)
    build_synthetic(root, **{**TINY, "train_per_class": 1})
    assert len(_images(root / "glide" / "train" / "ai")) == 1
    # An interrupted build (dataset.json is written last) is rebuilt, not refused.
    (root / MANIFEST).unlink()
    build_synthetic(root, **TINY)
    assert (root / MANIFEST).exists() and len(_images(root / "glide" / "train" / "ai")) == TINY["train_per_class"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        build_synthetic(foreign, **TINY)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_cli_hooks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_synth_args(parser)
    defaults = parser.parse_args(["--out", str(tmp_path / "x")])
    sizes = (defaults.train_per_class, defaults.val_per_class, defaults.min_side, defaults.max_side)
    assert sizes == (400, 100, 80, 160)
    args = parser.parse_args(
        ["--out", str(tmp_path / "cli"), "--train-per-class", "2", "--val-per-class", "1", "--reddit", "1",
         "--inpainted-train", "1", "--inpainted-val", "1", "--workers", "1"]
    )
    manifest = run_synth(args)
    assert manifest["args"]["train_per_class"] == 2
    assert UNSEEN in capsys.readouterr().out
    with pytest.raises(ValueError):
        build_synthetic(tmp_path / "odd", min_side=81, **TINY)


# ------------------------------------------------------------------------ leaks


def _file_features(path: Path) -> List[float]:
    """What GenImage leaks through: format, byte size, dimensions and sharpness."""
    with Image.open(path) as image:
        gray = np.asarray(image.convert("L"), dtype=np.float64)
        width, height = image.size
    sharpness = ndimage.laplace(gray)[1:-1, 1:-1].var()
    return [float(path.suffix == ".png"), float(path.stat().st_size), float(width), float(height), float(sharpness)]


def _spectrum_features(path: Path) -> List[float]:
    """Log power of the central 64 px crop in 4x4 frequency bands plus the three Nyquist bins.

    Upsampling fingerprints live here; the positive control below needs a
    feature that does carry the label.
    """
    with Image.open(path) as image:
        gray = np.asarray(image.convert("L"), dtype=np.float64)
    size = INPUT_SIZES["demo"]
    top, left = (gray.shape[0] - size) // 2, (gray.shape[1] - size) // 2
    crop = gray[top : top + size, left : left + size]
    window = np.outer(np.hanning(size), np.hanning(size))
    power = np.abs(np.fft.fft2((crop - crop.mean()) * window)) ** 2
    band = np.minimum(np.abs(np.fft.fftfreq(size) * size).astype(int) // (size // 8), 3)
    bands = [power[np.ix_(band == i, band == j)].mean() for i in range(4) for j in range(4)]
    half = size // 2
    return list(np.log(np.array(bands + [power[half, half], power[0, half], power[half, 0]]) + 1e-9))


CLASSIFIERS = {
    "logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    "tree": lambda: DecisionTreeClassifier(max_depth=3, random_state=0),
    "boosting": lambda: GradientBoostingClassifier(n_estimators=50, max_depth=2, random_state=0),
}


def _cv_accuracy(features: np.ndarray, labels: np.ndarray, name: str) -> float:
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    return float(cross_val_score(CLASSIFIERS[name](), features, labels, cv=folds).mean())


def test_no_label_leak_outside_the_fingerprint(moderate: Tuple[Path, dict]) -> None:
    root, _ = moderate
    samples = _classified(root)
    labels = np.array([label for _, label in samples])
    n = len(labels)
    assert n >= 2 * 200 and labels.mean() == 0.5

    leaky = np.array([_file_features(path) for path, _ in samples])
    # With no signal, cross-validated accuracy is ~Binomial(n, 0.5) / n: std 0.5/sqrt(n),
    # about 0.025 here, so 0.60 is 4 std above chance while GenImage's format bias alone
    # scores near 1.0. Flexible models add a little optimism on top, still well inside.
    for name in CLASSIFIERS:
        accuracy = _cv_accuracy(leaky, labels, name)
        assert accuracy < 0.60, f"{name} tells AI from real by format/size/sharpness: {accuracy:.3f}"

    # Positive control: the same classifiers do find a feature that carries the label,
    # so the bound above can fail.
    spectra = np.array([_spectrum_features(path) for path, _ in samples])
    accuracy = _cv_accuracy(spectra, labels, "logistic")
    assert accuracy > 0.80, f"the fingerprint is not visible in the spectrum: {accuracy:.3f}"
    shuffled = np.random.default_rng(0).permutation(labels)
    assert _cv_accuracy(spectra, shuffled, "logistic") < 0.60
