"""The same TorchScript model in-process, without a server: the ceiling serving is measured against.

Raw throughput runs ``realcheck.service.DetectionService.handle`` on raw image
bytes, the exact code the TorchServe handler runs, so decoding and
preprocessing are counted on both sides and only the serving runtime differs.
The stage costs split one image's time into decode, preprocessing and the rest.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import statistics
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence, Set

import torch

from realcheck import preprocess, spec
from realcheck.detector import Detector, FCNDetector, load_detector
from realcheck.imageio import decode_image
from realcheck.service import DetectionService, Request

from .servers import pinned


def load_service(model_dir: Path) -> DetectionService:
    return DetectionService(load_detector(model_dir / "model.pt", model_dir / spec.CALIBRATION_FILE))


def request_stream(bodies: Sequence[bytes], weights: Sequence[float], seed: int = 0) -> Iterator[bytes]:
    """An endless, reproducible stream of bodies in the traffic's proportions (as Locust picks them)."""
    return itertools.cycle(random.Random(seed).choices(list(bodies), list(weights), k=200))


@dataclasses.dataclass(frozen=True)
class RawRate:
    images_per_s: float
    cpu_ms: float  # process CPU time per image: robust to other jobs taking the core


def throughput(service: DetectionService, stream: Iterator[bytes], batch: int, seconds: float, cpus: Set[int]) -> RawRate:
    """Images per second through decode + preprocess + forward + response, ``batch`` images per call."""
    with pinned(cpus):
        torch.set_num_threads(len(cpus))
        for _ in range(3):  # the profiling executor specialises on the first calls of each shape
            _check(service.handle([Request(next(stream)) for _ in range(batch)]))
        done = 0
        started, cpu_started = time.perf_counter(), time.process_time()
        while time.perf_counter() - started < seconds:
            _check(service.handle([Request(next(stream)) for _ in range(batch)]))
            done += batch
        return RawRate(done / (time.perf_counter() - started), (time.process_time() - cpu_started) * 1e3 / done)


def _check(outcomes) -> None:
    bad = [o for o in outcomes if o.status != 200]
    if bad:
        raise RuntimeError(f"raw inference failed: {bad[0].body}")


@dataclasses.dataclass(frozen=True)
class StageCosts:
    """Milliseconds per image (medians), on the server's cores."""

    decode_ms: float
    preprocess_ms: float
    predict_ms: float  # preprocess + forward + calibration, from a decoded image

    @property
    def total_ms(self) -> float:
        return self.decode_ms + self.predict_ms


def _median_ms(function: Callable[[], object], repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def model_inputs(detector: Detector, pixels: torch.Tensor) -> torch.Tensor:
    """The tensor the model sees for one image, made as Detector.predict makes it."""
    if isinstance(detector, FCNDetector):
        return preprocess.whole_image(pixels, detector.spec)
    return preprocess.views(pixels, detector.spec)


def stage_costs(detector: Detector, body: bytes, repeats: int, cpus: Set[int]) -> StageCosts:
    with pinned(cpus):
        torch.set_num_threads(len(cpus))
        image = decode_image(body)
        return StageCosts(
            decode_ms=_median_ms(lambda: decode_image(body), repeats),
            preprocess_ms=_median_ms(lambda: model_inputs(detector, preprocess.to_tensor(image)), repeats),
            predict_ms=_median_ms(lambda: detector.predict([image]), repeats),
        )
