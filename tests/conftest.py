"""Shared fixtures: tiny models built once and cached, and a real TorchServe.

The tiny pipeline run (synthetic data, training, calibration, export, .mar) is
cached under build/test-cache/ keyed by a hash of the code that produces it, so
a second `make test` skips it while a code change rebuilds it.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from serving import launcher

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "test-cache"
SOURCES = ("realcheck", "training", "handlers")
SERVED_STORE = "model_store_batch8"


def _code_hash() -> str:
    digest = hashlib.sha256()
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def tiny_run() -> Path:
    """``python -m training all --preset tiny`` output: <run>/{cnn,fcn,vit}/..., <run>/model_store/*.mar."""
    run = CACHE / f"tiny-{_code_hash()}"
    if not (run / SERVED_STORE / "vit.mar").exists():
        shutil.rmtree(run, ignore_errors=True)
        for stale in CACHE.glob("tiny-*"):
            shutil.rmtree(stale, ignore_errors=True)
        command = [sys.executable, "-m", "training", "all", "--preset", "tiny", "--out", str(run)]
        command += ["--model-store", str(run / "model_store"), "--workers", "0"]
        subprocess.run(command, cwd=ROOT, check=True)
        # The served copies batch up to 8 requests, so the tests exercise batching.
        command = [sys.executable, "-m", "training", "archive", "--runs", str(run), "--out", str(run / SERVED_STORE)]
        command += ["--batch-size", "8", "--max-batch-delay", "150"]
        subprocess.run(command, cwd=ROOT, check=True)
    return run


@pytest.fixture(scope="session")
def synthetic_root(tiny_run: Path) -> Path:
    return tiny_run / "synthetic"


@pytest.fixture(scope="session")
def torchserve(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory):
    """A real TorchServe on free loopback ports, serving the tiny archives, token auth on.

    ``ui_port`` is a free port for the web page's server (tests/test_web.py).
    """
    workdir = tmp_path_factory.mktemp("torchserve")
    # Logging as `make serve` ships it.
    server = launcher.start(tiny_run / SERVED_STORE, workdir, overrides={**launcher.isolated_ports(), **launcher.quiet_logs()})
    server.ui_port = launcher.free_port()
    yield server
    launcher.stop(server)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _first_image(folder: Path) -> bytes:
    return sorted(p for p in folder.iterdir() if p.suffix in (".png", ".jpg"))[0].read_bytes()


@pytest.fixture(scope="session")
def real_png_bytes(synthetic_root: Path) -> bytes:
    """A real photograph from the synthetic test split, re-encoded as PNG."""
    return _png(np.asarray(Image.open(io.BytesIO(_first_image(synthetic_root / "ADM" / "val" / "nature"))).convert("RGB")))


@pytest.fixture(scope="session")
def ai_png_bytes(synthetic_root: Path) -> bytes:
    return _png(np.asarray(Image.open(io.BytesIO(_first_image(synthetic_root / "ADM" / "val" / "ai"))).convert("RGB")))
