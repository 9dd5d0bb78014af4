"""Turning untrusted request bytes into an RGB image, or a clear client error."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import spec


class ImageInputError(ValueError):
    """A client error for one request: an HTTP status, a stable code and a sentence."""

    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "detail": self.detail}


def decode_image(data: bytes, max_pixels: int = spec.DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode bytes to an upright RGB image, honouring EXIF orientation.

    Any mode (L, P, RGBA, CMYK, I;16, ...) becomes RGB and an animated image
    yields its first frame. Images over ``max_pixels`` are refused before their
    pixels are decoded, which is what makes this a decompression-bomb guard.
    """
    if not data:
        raise ImageInputError(400, "empty_body", "The request carried no image bytes.")
    try:
        with warnings.catch_warnings():
            # PIL warns, then errors, on huge images; we apply our own limit below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageInputError(
                    413,
                    "image_too_large",
                    f"The image is {width}x{height} = {width * height / 1e6:.1f} MP; "
                    f"the limit is {max_pixels / 1e6:.1f} MP.",
                )
            image.seek(0)
            image.load()
            image = ImageOps.exif_transpose(image)
            return _to_rgb(image)
    except ImageInputError:
        raise
    except UnidentifiedImageError:
        raise ImageInputError(400, "invalid_image", "The body is not an image format we can read (JPEG, PNG, WebP, GIF, BMP, TIFF).") from None
    except Image.DecompressionBombError as exc:
        raise ImageInputError(413, "image_too_large", str(exc)) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageInputError(400, "invalid_image", f"The image is corrupt or truncated ({exc}).") from None


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float greyscale: scale into 8 bits instead of clipping.
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) * (255.0 / (high - low)) if high > low else array * 0
        return Image.fromarray(scaled.astype("uint8"), "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Composite on white, as a browser would show it, rather than keeping
        # whatever colour hides under transparent pixels.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
