"""A batch of requests in, one outcome per request out: the runtime-independent service.

A model server adapter (handlers/ for TorchServe, loadtest/baselines/ for Flask)
turns its requests into ``Request`` objects and writes back each ``Outcome``.
One bad request gets its own 4xx outcome; the rest of the batch still succeeds.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import logging
from typing import Any, List, Mapping, Optional, Sequence

from PIL import Image

from . import spec
from .detector import Detector
from .imageio import ImageInputError, decode_image

logger = logging.getLogger(__name__)

# Multipart form fields that may carry the image, in order of preference.
FORM_FIELDS = ("data", "file", "body")


@dataclasses.dataclass(frozen=True)
class Request:
    payload: Any  # raw bytes, a multipart field, or a decoded JSON object
    explain: bool = False


@dataclasses.dataclass(frozen=True)
class Outcome:
    status: int
    body: dict

    @property
    def json_bytes(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")


def image_bytes(payload: Any) -> bytes:
    """The image bytes in a raw body, a multipart field, or JSON ``{"image": "<base64>"}``."""
    if isinstance(payload, Mapping):
        if "image" not in payload:
            raise ImageInputError(400, "invalid_request", 'A JSON body must be {"image": "<base64 image>"}.')
        payload = payload["image"]
        if not isinstance(payload, str):
            raise ImageInputError(400, "invalid_request", 'The "image" field must be a base64 string.')
        try:
            return base64.b64decode(payload.split(",", 1)[-1] if payload.startswith("data:") else payload, validate=True)
        except (binascii.Error, ValueError):
            raise ImageInputError(400, "invalid_request", 'The "image" field is not valid base64.') from None
    if isinstance(payload, str):
        # TorchServe hands text/* bodies over decoded: they are not images.
        raise ImageInputError(400, "invalid_image", "The body is text, not an image.")
    if isinstance(payload, (list, dict)) or payload is None:
        raise ImageInputError(400, "invalid_request", "Send the image as the body, a form field, or base64 JSON.")
    return bytes(payload)


def form_payload(request: Mapping[str, Any]) -> Any:
    """Pick the image out of one request's fields (TorchServe's ``data`` list items)."""
    for field in FORM_FIELDS:
        if request.get(field) is not None:
            return request[field]
    return None


class DetectionService:
    def __init__(self, detector: Detector, max_pixels: int = spec.DEFAULT_MAX_PIXELS):
        self.detector = detector
        self.max_pixels = max_pixels

    def decode(self, request: Request) -> Image.Image:
        return decode_image(image_bytes(request.payload), self.max_pixels)

    def handle(self, requests: Sequence[Request]) -> List[Outcome]:
        outcomes: List[Optional[Outcome]] = [None] * len(requests)
        to_predict: List[tuple[int, Image.Image]] = []
        for index, request in enumerate(requests):
            try:
                image = self.decode(request)
                if request.explain:
                    outcomes[index] = Outcome(200, self.detector.explain(image))
                else:
                    to_predict.append((index, image))
            except ImageInputError as exc:
                outcomes[index] = Outcome(exc.status, exc.to_json())
            except Exception:  # noqa: BLE001 - one request's failure must not fail the batch
                logger.exception("explanation failed")
                outcomes[index] = Outcome(500, {"error": "internal_error", "detail": "The model failed on this image."})
        if to_predict:
            # Predictions share one forward pass; that is what batching buys.
            try:
                results = self.detector.predict([image for _, image in to_predict])
                for (index, _), result in zip(to_predict, results):
                    outcomes[index] = Outcome(200, result)
            except Exception:  # noqa: BLE001
                logger.exception("prediction failed")
                for index, _ in to_predict:
                    outcomes[index] = Outcome(500, {"error": "internal_error", "detail": "The model failed on this batch."})
        return [outcome for outcome in outcomes if outcome is not None]
