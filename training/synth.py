"""A small, deterministic stand-in for GenImage, written in GenImage's folder layout.

Why it looks like this:

* What a detector can learn from generated images, and what carries over to
  unseen generators, is the trace that a generator's *upsampling decoder*
  leaves in the top octave of the spectrum: transposed-convolution
  checkerboards, nearest/bilinear-upsampling patterns, pixel-shuffle phase
  patterns. So each "generator" here is one such decoder with fixed random
  weights, and an AI image is a real photograph whose top octave comes from
  that decoder. The weights are seeded per family, never by ``--seed``, so
  every synthetic dataset shares the same fingerprints.
* GenImage leaks its labels through more than the content (real JPEGs vs AI
  PNGs, different sizes, different sharpness), and a detector trained on it
  learns the leak. Here both classes come from the same photographs through
  the same crop, resize, blur, smooth-path, camera-noise and encoding
  distributions. The real side gets camera-like grain where the AI side gets
  the fingerprint, with the fingerprint's local energy envelope and scaled
  per image so that the encoded file is exactly as sharp (variance of the
  Laplacian) as the AI image made from the same crop would be. What tells
  the classes apart is the fingerprint's spectrum and structure, not how
  much high frequency there is.
* Whole photographs, not crops, are split between train and test, so test
  content is never seen in training.

Every sample draws from its own numpy Generator keyed by (seed, stream, index),
and the arithmetic is float64 on the CPU, so a build is byte-for-byte
reproducible whatever the number of workers.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import io
import json
import math
import multiprocessing
import shutil
import time
import zlib
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter

from realcheck.spec import GENIMAGE_CLASS_DIRS, GENIMAGE_SPLITS, INPUT_SIZES

# The layout's names are the loader's: the synthetic set must read like GenImage.
from .data import INPAINTED_DIR, MANIFEST

REDDIT_DIR = "reddit"

# GenImage's folder names. The family behind each name is a stand-in: only
# Stable Diffusion's (its VAE decoder upsamples by nearest neighbour + conv)
# resembles the real architecture.
GENERATORS: Dict[str, str] = {
    "stable_diffusion_v_1_4": "nearest_conv",
    "Midjourney": "pixel_shuffle",
    "ADM": "bilinear_conv",
    "glide": "transposed_conv",
    "wukong": "conv_decoder",
    "VQDM": "transposed_conv_k3",
}
UNSEEN = "VQDM"
# The study's inpainted images come from Stable Diffusion's inpainting model.
INPAINT_GENERATOR = "stable_diffusion_v_1_4"

# Real colour photographs that ship inside installed packages (no download).
# The stereo motorcycle pair shows one scene, so both halves sit in one split.
TRAIN_PHOTOS: Tuple[str, ...] = (
    "astronaut",
    "motorcycle_left",
    "motorcycle_right",
    "hubble_deep_field",
    "retina",
    "ihc",
    "china",
    "grace_hopper",
)
TEST_PHOTOS: Tuple[str, ...] = ("chelsea", "coffee", "rocket", "flower")

# Shared by both classes.
DOWNSCALE_RANGE = (1.0, 2.5)
BLUR_PROBABILITY = 0.3
BLUR_SIGMA_RANGE = (0.3, 1.0)
CAMERA_NOISE_RANGE = (1.0, 3.0)  # RMS, 8-bit levels
PNG_PROBABILITY = 0.5
JPEG_QUALITY_RANGE = (75, 100)
# Fingerprint RMS in 8-bit levels. Hard to see; at (2, 5) the demo CNN
# (ResNet-10 from scratch, ~450 steps) barely starts to learn it.
DEFAULT_AMPLITUDE = (4.0, 8.0)
# RMS of the latent texture the decoders read, in decoder units (image in [0, 1]).
LATENT_TEXTURE = 0.05
# Per-channel noise relative to the part shared by all channels. The decoders
# work per colour plane, so fingerprints are mostly luminance too.
CHROMA_NOISE = 0.5
# Grain size (Gaussian sigma, pixels) of the real side's residual; see envelope_noise.
REAL_NOISE_SIGMA = 1.0
# Side (pixels) of the window over which the real residual copies the fingerprint's energy.
ENVELOPE_WINDOW = 5
# Sharpness matching: the gain search doubles up to this, then bisects this often.
MAX_NOISE_GAIN = 32.0
GAIN_BISECTIONS = 6
# The inpainted object covers this fraction of the image; its inverse covers the rest.
MASK_FRACTION_RANGE = (0.3, 0.7)
# PIL's RGB -> L weights: the decoder residual's sharpening part is measured
# on the luminance, as sharpness() measures the files.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)

Tensor = torch.Tensor
Decoder = Callable[[Tensor], Tensor]


# ------------------------------------------------------------------ real photos


def _photo_paths() -> Dict[str, Path]:
    import matplotlib
    import skimage
    import sklearn.datasets

    skimage_data = Path(skimage.__file__).parent / "data"
    paths = {
        name: skimage_data / f"{name}.png"
        for name in ("astronaut", "chelsea", "coffee", "motorcycle_left", "motorcycle_right", "ihc")
    }
    paths.update({name: skimage_data / f"{name}.jpg" for name in ("rocket", "hubble_deep_field", "retina")})
    sklearn_images = Path(sklearn.datasets.__file__).parent / "images"
    paths.update({name: sklearn_images / f"{name}.jpg" for name in ("china", "flower")})
    paths["grace_hopper"] = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return paths


@functools.lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    with Image.open(_photo_paths()[name]) as image:
        return np.array(image.convert("RGB"))


def _tensor(pixels: np.ndarray) -> Tensor:
    """[H, W, 3] uint8 -> [1, 3, H, W] float64 in 0..255."""
    return torch.from_numpy(pixels.astype(np.float64)).permute(2, 0, 1)[None]


# ------------------------------------------------------------ decoder families


def _upsample(x: Tensor, mode: str) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode=mode, **({} if mode == "nearest" else {"align_corners": False}))


@functools.lru_cache(maxsize=None)
def _decoder(family: str) -> Decoder:
    """The family's fixed random upsampler, applied to each colour plane: [C, 1, h, w] -> [C, 1, 2h, 2w].

    One shared plane decoder (rather than random colour mixing) keeps the
    fingerprint mostly in luminance, which JPEG's chroma subsampling spares.
    """
    generator = torch.Generator().manual_seed(zlib.crc32(family.encode()))

    def weight(out_ch: int, in_ch: int, k: int) -> Tensor:
        return torch.randn(out_ch, in_ch, k, k, generator=generator, dtype=torch.float64) / math.sqrt(in_ch * k * k)

    def bias(channels: int) -> Tensor:
        return 0.1 * torch.randn(channels, generator=generator, dtype=torch.float64)

    if family == "transposed_conv":
        w = weight(1, 1, 4)
        return lambda x: F.conv_transpose2d(x, w, stride=2, padding=1)
    if family in ("nearest_conv", "bilinear_conv"):
        mode = family.split("_")[0]
        w = weight(1, 1, 3)
        return lambda x: F.conv2d(_upsample(x, mode), w, padding=1)
    if family == "pixel_shuffle":
        w, b = weight(4, 1, 3), bias(4)
        return lambda x: F.pixel_shuffle(F.conv2d(x, w, b, padding=1), 2)
    if family == "conv_decoder":
        w1, b1, w2 = weight(8, 1, 3), bias(8), weight(1, 8, 2)
        return lambda x: F.conv_transpose2d(F.relu(F.conv2d(x, w1, b1, padding=1)), w2.transpose(0, 1), stride=2)
    if family == "transposed_conv_k3":
        w1, b1, w2 = weight(8, 1, 3), bias(8), weight(1, 8, 3)
        return lambda x: F.conv2d(
            F.relu(F.conv_transpose2d(x, w1.transpose(0, 1), b1, stride=2, padding=1, output_padding=1)), w2, padding=1
        )
    raise ValueError(f"unknown decoder family {family!r}")


# ------------------------------------------------------------- signal helpers


def _down(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, 2)


def _up(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)


def _top_octave(x: Tensor) -> Tensor:
    """What the 2x-downsampled image cannot explain: where upsampling fingerprints live."""
    return x - _up(_down(x))


def _rms(x: Tensor) -> float:
    return float(x.pow(2).mean().sqrt())


_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)[None, None]
_GRAY = torch.tensor(GRAY_WEIGHTS, dtype=torch.float64)[None, :, None, None]


def _centred_gray_laplacian(x: Tensor) -> Tensor:
    lap = F.conv2d((x * _GRAY).sum(1, keepdim=True), _LAPLACIAN).flatten()
    return lap - lap.mean()


def _decoder_residual(family: str, x_low: Tensor, base: Tensor, texture: Tensor) -> Tensor:
    """What the family's decoder puts in the top octave of ``x_low`` (0..255), in decoder units.

    The decoder reads ``x_low`` plus ``texture``: a generator decodes a latent
    that is never smooth, and upsampling its texture leaves periodic
    correlations (2x2 blocks after nearest, alternating variance after
    bilinear) even where the picture is flat. So no crop is too flat to carry
    a fingerprint, and scaling the residual to a target RMS never blows up.

    The decoder sees 2 replicated low-res pixels of margin, so its own zero
    padding leaves no border trace that a detector could key on instead.
    The part that merely sharpens or softens ``base`` (its own top octave) is
    projected out: the fingerprint adds structure, so an AI image is never
    softer than its smooth base, and the real side can always match its sharpness.
    """
    pad = 2

    def planes(x: Tensor) -> Tensor:
        return F.pad(x, (pad,) * 4, mode="replicate").transpose(0, 1)

    smooth = x_low / 255.0
    residual = _top_octave(_decoder(family)(planes(smooth + texture)) - _up(planes(smooth)))
    residual = residual[..., 2 * pad : -2 * pad, 2 * pad : -2 * pad].transpose(0, 1)
    edges = _top_octave(base)
    lap_base, lap_edges = _centred_gray_laplacian(base), _centred_gray_laplacian(edges)
    overlap = float(lap_base @ lap_edges)
    if overlap <= 0.0:  # a flat crop: nothing to sharpen or soften
        return residual
    return residual - float(lap_base @ _centred_gray_laplacian(residual)) / overlap * edges


def _white(rng: np.random.Generator, shape: torch.Size) -> Tensor:
    """Unit-variance noise, mostly shared across channels as after demosaicing and chroma denoising."""
    shared = torch.from_numpy(rng.standard_normal((1, 1, *shape[2:])))
    return (shared + CHROMA_NOISE * torch.from_numpy(rng.standard_normal(tuple(shape)))) / math.hypot(1.0, CHROMA_NOISE)


def fingerprint(rng: np.random.Generator, family: str, x_low: Tensor, base: Tensor, amplitude: float) -> Tensor:
    """The family's top-octave fingerprint of ``x_low`` (0..255) over ``base``, of RMS ``amplitude`` levels."""
    residual = _decoder_residual(family, x_low, base, LATENT_TEXTURE * _white(rng, x_low.shape))
    return residual * (amplitude / _rms(residual))


def camera_noise(rng: np.random.Generator, base: Tensor, rms: float) -> Tensor:
    """Shot-like noise of about ``rms`` levels (stronger where brighter), added to both classes.

    Generators synthesise grain as cameras record it. Without this floor the
    AI side alone would carry a deterministic top octave, which PNG's deflate
    packs tighter than noise: file sizes would tell the classes apart.
    """
    shot = torch.sqrt((0.2 + base.clamp(0, 255) / 255) / 0.7)
    return rms * shot * _white(rng, base.shape)


def _local_rms(x: Tensor) -> Tensor:
    """[1, 1, H, W] RMS over the channels and a small window."""
    energy = x.pow(2).mean(1, keepdim=True)
    pad = ENVELOPE_WINDOW // 2
    return F.avg_pool2d(energy, ENVELOPE_WINDOW, stride=1, padding=pad, count_include_pad=False).sqrt()


def _blur(x: Tensor, sigma: float) -> Tensor:
    radius = math.ceil(3 * sigma)
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float64) / sigma) ** 2)
    kernel = (taps / taps.sum()).expand(x.shape[1], 1, -1)
    x = F.pad(x, (radius,) * 4, mode="replicate")
    x = F.conv2d(x, kernel[:, :, None, :], groups=x.shape[1])
    return F.conv2d(x, kernel[:, :, :, None], groups=x.shape[1])


def envelope_noise(rng: np.random.Generator, target: Tensor) -> Tensor:
    """The real side's residual: camera-like grain with ``target``'s local energy envelope.

    Demosaicing and in-camera denoising correlate neighbouring pixels, so
    camera grain is coarser than the top-octave trace every decoder family
    leaves. That one shared direction (finer for AI, coarser for real) is
    what a small CNN picks up within a few hundred steps; residuals spread
    evenly over the top octave sit between the families and cancel out.
    Demosaicing error is also strongest where the content is busy, like a
    fingerprint: copying the envelope keeps where the residual sits alike.
    """
    white = torch.from_numpy(rng.standard_normal((1, 1, *target.shape[2:]))).expand(target.shape)
    noise = _blur(white, REAL_NOISE_SIGMA) - _blur(white, 3 * REAL_NOISE_SIGMA)
    return noise / _local_rms(noise) * _local_rms(target)


def _to_image(x: Tensor) -> Image.Image:
    return Image.fromarray(x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy(), "RGB")


def _encode(image: Image.Image, quality: Optional[int]) -> bytes:
    """PNG (``quality`` None) or JPEG bytes; PIL writes no metadata unless asked."""
    buffer = io.BytesIO()
    if quality is None:
        image.save(buffer, "PNG")
    else:
        image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _as_stored(x: Tensor, quality: Optional[int]) -> Image.Image:
    """``x`` as a reader of its file will see it (PNG is lossless, so it skips the encoder)."""
    image = _to_image(x)
    return image if quality is None else Image.open(io.BytesIO(_encode(image, quality)))


def sharpness(image: Image.Image) -> float:
    """Variance of the Laplacian of the image's luminance (PIL's RGB -> L)."""
    gray = torch.from_numpy(np.asarray(image.convert("L"), dtype=np.float64))[None, None]
    return float(F.conv2d(gray, _LAPLACIAN).var(correction=0))


def _matched_gain(floor: Tensor, noise: Tensor, target: float, quality: Optional[int]) -> float:
    """The gain g at which ``floor + g * noise``, as stored, has sharpness ``target``.

    Matched after encoding, not before: JPEG keeps a fingerprint's few strong
    coefficients and drops spread-out noise, so images equally sharp in
    pixels would not be in their files.
    """

    def too_soft(gain: float) -> bool:
        return sharpness(_as_stored(floor + gain * noise, quality)) < target

    low, high = 0.0, 1.0
    while high < MAX_NOISE_GAIN and too_soft(high):
        low, high = high, 2.0 * high
    for _ in range(GAIN_BISECTIONS):
        middle = (low + high) / 2
        low, high = (middle, high) if too_soft(middle) else (low, middle)
    return (low + high) / 2


# ------------------------------------------------------------------ sampling


@dataclasses.dataclass(frozen=True)
class _Shape:
    min_side: int
    max_side: int
    amplitude: Tuple[float, float]


def _even(rng: np.random.Generator, low: int, high: int) -> int:
    return 2 * int(rng.integers(low // 2, high // 2 + 1))


def _crop(rng: np.random.Generator, photos: Sequence[str], shape: _Shape) -> np.ndarray:
    """A random region of a random photo, downscaled (antialiased) to even sides and maybe blurred."""
    photo = _photo(photos[int(rng.integers(len(photos)))])
    height, width = _even(rng, shape.min_side, shape.max_side), _even(rng, shape.min_side, shape.max_side)
    factor = min(rng.uniform(*DOWNSCALE_RANGE), photo.shape[0] / height, photo.shape[1] / width)
    crop_h, crop_w = min(round(height * factor), photo.shape[0]), min(round(width * factor), photo.shape[1])
    top = int(rng.integers(photo.shape[0] - crop_h + 1))
    left = int(rng.integers(photo.shape[1] - crop_w + 1))
    image = Image.fromarray(photo[top : top + crop_h, left : left + crop_w]).resize((width, height), Image.LANCZOS)
    if rng.random() < BLUR_PROBABILITY:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*BLUR_SIGMA_RANGE)))
    return np.asarray(image)


def _quality(rng: np.random.Generator) -> Optional[int]:
    """None for PNG, else a JPEG quality."""
    if rng.random() < PNG_PROBABILITY:
        return None
    return int(rng.integers(JPEG_QUALITY_RANGE[0], JPEG_QUALITY_RANGE[1] + 1))


def _write(stem: Path, image: Image.Image, quality: Optional[int]) -> None:
    stem.with_suffix(".png" if quality is None else ".jpg").write_bytes(_encode(image, quality))


def _object_mask(rng: np.random.Generator, height: int, width: int) -> Tensor:
    """A wobbly, object-like blob covering a random 30-70% of the image; [1, 1, H, W] of 0/1."""
    ys = torch.linspace(-1, 1, height, dtype=torch.float64)[:, None]
    xs = torch.linspace(-1, 1, width, dtype=torch.float64)[None, :]
    cy, cx = rng.uniform(-0.3, 0.3, size=2)
    angle = rng.uniform(0, math.pi)
    ry, rx = rng.uniform(0.4, 1.0, size=2)
    u = ((xs - cx) * math.cos(angle) + (ys - cy) * math.sin(angle)) / rx
    v = (-(xs - cx) * math.sin(angle) + (ys - cy) * math.cos(angle)) / ry
    wobble = F.interpolate(torch.from_numpy(rng.standard_normal((1, 1, 5, 5))), size=(height, width), mode="bicubic")
    field = -(u**2 + v**2) + 0.4 * wobble[0, 0]
    # Thresholding at a quantile sets the covered fraction exactly.
    threshold = torch.quantile(field.flatten(), 1.0 - rng.uniform(*MASK_FRACTION_RANGE))
    return (field > threshold).to(torch.float64)[None, None]


@dataclasses.dataclass(frozen=True)
class _Job:
    """One output: ``kind`` is "ai", "nature" or "inpainted" (an image and its inverse)."""

    kind: str
    stem: Path  # output path without suffix; inpainted jobs add _0/_1 and write masks beside images/
    key: Tuple[int, ...]
    photos: Tuple[str, ...]
    family: str  # the fingerprint (for "nature", the one whose sharpness the real image takes)
    shape: _Shape


def _render(job: _Job) -> None:
    rng = np.random.default_rng(job.key)
    crop = _tensor(_crop(rng, job.photos, job.shape))
    with torch.no_grad():
        # Everything up to the encoding is drawn the same way for both classes.
        x_low = _down(crop)
        base = _up(x_low)
        floor = base + camera_noise(rng, base, rng.uniform(*CAMERA_NOISE_RANGE))
        ai = fingerprint(rng, job.family, x_low, base, rng.uniform(*job.shape.amplitude))
        real = envelope_noise(rng, ai)
        if job.kind == "inpainted":
            # The real part is as sharp (in pixels) as the AI part would be there.
            real = real * _matched_gain(floor, real, sharpness(_to_image(floor + ai)), None)
            mask = _object_mask(rng, *crop.shape[2:])
            for index, region in enumerate((mask, 1.0 - mask)):
                name = f"{job.stem.name}_{index}"
                quality = _quality(rng)
                image = _to_image(floor + region * ai + (1.0 - region) * real)
                _write(job.stem.parent / name, image, quality)
                pixels = (region[0, 0] * 255).to(torch.uint8).numpy()
                Image.fromarray(pixels, "L").save(job.stem.parent.parent / "masks" / f"{name}.png")
            return
        quality = _quality(rng)
        if job.kind == "ai":
            image = _to_image(floor + ai)
        else:
            gain = _matched_gain(floor, real, sharpness(_as_stored(floor + ai, quality)), quality)
            image = _to_image(floor + gain * real)
        _write(job.stem, image, quality)


# ------------------------------------------------------------------- building


def _stream_key(seed: int, stream: str, index: int) -> Tuple[int, ...]:
    # crc32 rather than hash(): str hashes change from process to process.
    return (seed, zlib.crc32(stream.encode()), index)


def _jobs(out: Path, seed: int, shape: _Shape, counts: Dict[str, int]) -> List[_Job]:
    photos = {"train": TRAIN_PHOTOS, "val": TEST_PHOTOS}
    per_class = {"train": counts["train_per_class"], "val": counts["val_per_class"]}
    jobs: List[_Job] = []

    def add(kind: str, folder: Path, split: str, family: str, count: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        stream = folder.relative_to(out).as_posix()
        jobs.extend(
            _Job(kind, folder / f"{index:05d}", _stream_key(seed, stream, index), photos[split], family, shape)
            for index in range(count)
        )

    for generator, family in GENERATORS.items():
        for split in GENIMAGE_SPLITS:
            if generator == UNSEEN and split == "train":
                continue
            for class_dir in GENIMAGE_CLASS_DIRS:
                add(class_dir, out / generator / split / class_dir, split, family, per_class[split])
    # Seed-distinct from the unseen generator's val images by its own stream.
    add("ai", out / REDDIT_DIR, "val", GENERATORS[UNSEEN], counts["reddit"])
    for split in GENIMAGE_SPLITS:
        (out / INPAINTED_DIR / split / "masks").mkdir(parents=True, exist_ok=True)
        family = GENERATORS[INPAINT_GENERATOR]
        add("inpainted", out / INPAINTED_DIR / split / "images", split, family, counts[f"inpainted_{split}"])
    return jobs


def _clear(out: Path) -> None:
    """Replace an earlier synthetic build, finished or interrupted; refuse to write over anything else."""
    if not out.exists():
        return
    folders = (*GENERATORS, REDDIT_DIR, INPAINTED_DIR)
    manifest = out / MANIFEST
    finished = manifest.exists() and json.loads(manifest.read_text()).get("kind") == "synthetic"
    # dataset.json is written last, so an interrupted build left only these folders.
    interrupted = not manifest.exists() and {p.name for p in out.iterdir()} <= set(folders)
    if not (finished or interrupted):
        raise FileExistsError(f"{out} is not empty and holds no synthetic {MANIFEST}")
    for name in folders:
        shutil.rmtree(out / name, ignore_errors=True)
    manifest.unlink(missing_ok=True)


def build_synthetic(
    out: Path,
    *,
    seed: int = 0,
    train_per_class: int = 400,
    val_per_class: int = 100,
    reddit: int = 100,
    inpainted_train: int = 100,
    inpainted_val: int = 50,
    min_side: int = 80,
    max_side: int = 160,
    amplitude: Tuple[float, float] = DEFAULT_AMPLITUDE,
    workers: int = 1,
) -> dict:
    """Write the synthetic dataset under ``out`` and return its dataset.json content."""
    if min_side % 2 or max_side % 2 or not INPUT_SIZES["demo"] <= min_side <= max_side:
        raise ValueError(f"sides must be even with {INPUT_SIZES['demo']} <= min_side <= max_side")
    out = Path(out)
    _clear(out)
    shape = _Shape(min_side, max_side, (float(amplitude[0]), float(amplitude[1])))
    counts = {
        "train_per_class": train_per_class,
        "val_per_class": val_per_class,
        "reddit": reddit,
        "inpainted_train": inpainted_train,
        "inpainted_val": inpainted_val,
    }
    jobs = _jobs(out, seed, shape, counts)
    # The ops are small: intra-op threads cost more in synchronisation than
    # they gain (several times over on a busy machine), so each process uses one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if workers > 1:
            # fork: workers inherit the photos decoded here rather than each decoding all of them.
            # Samples are independent, so order is irrelevant.
            for name in (*TRAIN_PHOTOS, *TEST_PHOTOS):
                _photo(name)
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for _ in pool.imap_unordered(_render, jobs, chunksize=16):
                    pass
        else:
            for job in jobs:
                _render(job)
    finally:
        torch.set_num_threads(threads)
    manifest = {
        "kind": "synthetic",
        "seed": seed,
        "generators": GENERATORS,
        "unseen": UNSEEN,
        "photos": {"train": list(TRAIN_PHOTOS), "test": list(TEST_PHOTOS)},
        "args": {**counts, "min_side": min_side, "max_side": max_side, "amplitude": list(shape.amplitude)},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


# ------------------------------------------------------------------------ CLI


def add_synth_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="dataset root to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-per-class", type=int, default=400, help="per seen generator and class")
    parser.add_argument("--val-per-class", type=int, default=100, help="per generator and class")
    parser.add_argument("--reddit", type=int, default=100, help="flat all-AI images from the unseen family")
    parser.add_argument("--inpainted-train", type=int, default=100, help="base images; each also gets its inverse")
    parser.add_argument("--inpainted-val", type=int, default=50, help="base images; each also gets its inverse")
    parser.add_argument("--min-side", type=int, default=80, help="even, >= the demo input size")
    parser.add_argument("--max-side", type=int, default=160, help="even")
    parser.add_argument(
        "--amplitude",
        type=float,
        nargs=2,
        default=DEFAULT_AMPLITUDE,
        metavar=("LOW", "HIGH"),
        help="fingerprint RMS range in 8-bit levels",
    )
    parser.add_argument("--workers", type=int, default=min(2, multiprocessing.cpu_count()))


def run_synth(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    manifest = build_synthetic(
        args.out,
        seed=args.seed,
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        reddit=args.reddit,
        inpainted_train=args.inpainted_train,
        inpainted_val=args.inpainted_val,
        min_side=args.min_side,
        max_side=args.max_side,
        amplitude=tuple(args.amplitude),
        workers=args.workers,
    )
    files = sum(1 for path in Path(args.out).rglob("*") if path.is_file())
    print(
        f"synthetic dataset: {files} files in {args.out} ({time.perf_counter() - start:.1f}s); "
        f"unseen generator: {UNSEEN}"
    )
    return manifest
