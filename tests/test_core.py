"""The detection core without a server: decoding, views, calibration, the batch service."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from realcheck import preprocess, registry, spec
from realcheck.calibration import PlattScaler, fit_platt
from realcheck.detector import make_detector
from realcheck.imageio import ImageInputError, decode_image
from realcheck.service import DetectionService, Request, image_bytes


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def gradient(width: int = 40, height: int = 30) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    return Image.fromarray(np.broadcast_to(x, (height, width, 3)).copy())


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16", "LA", "1"])
def test_every_mode_decodes_to_rgb(mode):
    image = gradient().convert("RGB")
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 200)
        assert image.mode == "I;16"
    else:
        image = image.convert(mode)
    decoded = decode_image(encode(image, "JPEG" if mode == "CMYK" else "PNG"))
    assert decoded.mode == "RGB" and decoded.size == (40, 30)


def test_16_bit_greyscale_keeps_its_range():
    ramp = Image.fromarray(np.arange(40 * 30, dtype=np.uint16).reshape(30, 40) * 50)
    pixels = np.asarray(decode_image(encode(ramp)))
    assert pixels.min() == 0 and pixels.max() == 255


def test_transparency_composites_on_white():
    clear = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert np.asarray(decode_image(encode(clear))).min() == 255


def test_exif_orientation_is_honoured():
    image = gradient(40, 30)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    decoded = decode_image(encode(image, "JPEG", exif=exif.tobytes()))
    assert decoded.size == (30, 40)


def test_animated_image_yields_first_frame():
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    first = np.asarray(decode_image(buffer.getvalue()))
    assert first[..., 0].mean() > 200 and first[..., 2].mean() < 50


@pytest.mark.parametrize(
    "data, status, error",
    [
        (b"", 400, "empty_body"),
        (b"hello, this is text", 400, "invalid_image"),
        (encode(gradient(), "PNG")[:60], 400, "invalid_image"),
    ],
)
def test_bad_bytes_are_client_errors(data, status, error):
    with pytest.raises(ImageInputError) as caught:
        decode_image(data)
    assert (caught.value.status, caught.value.error) == (status, error)


def test_pixel_limit_refuses_before_decoding():
    big = encode(Image.new("RGB", (3000, 2000)), "PNG")
    with pytest.raises(ImageInputError) as caught:
        decode_image(big, max_pixels=5_000_000)
    assert caught.value.status == 413 and caught.value.error == "image_too_large"
    assert decode_image(big, max_pixels=6_000_000).size == (3000, 2000)


def test_json_base64_and_data_url_payloads():
    png = encode(gradient())
    b64 = base64.b64encode(png).decode()
    assert image_bytes({"image": b64}) == png
    assert image_bytes({"image": "data:image/png;base64," + b64}) == png
    for bad in ({"picture": b64}, {"image": "***"}, {"image": 3}):
        with pytest.raises(ImageInputError) as caught:
            image_bytes(bad)
        assert caught.value.status == 400


def _spec(name: str = "cnn") -> spec.ModelSpec:
    return registry.get_entry(name, "tiny").spec


def test_multicrop_views_are_native_resolution_crops():
    model_spec = _spec()
    size = model_spec.input_size
    pixels = torch.rand(3, 3 * size, 4 * size)
    views = preprocess.views(pixels, model_spec, "multicrop")
    assert views.shape == (5, 3, size, size)
    # The top-left view is an exact, unresampled crop of the image.
    top_left = preprocess.normalize(pixels[:, :size, :size], model_spec)
    assert any(torch.equal(view, top_left) for view in views)
    assert preprocess.views(pixels, model_spec, "center").shape == (1, 3, size, size)
    assert preprocess.views(pixels, model_spec, "resize").shape == (1, 3, size, size)


def test_small_images_are_upscaled_until_a_crop_fits():
    model_spec = _spec()
    size = model_spec.input_size
    assert preprocess.views(torch.rand(3, 10, 10), model_spec).shape == (1, 3, size, size)
    # 10x20 becomes size x 2*size: the centre crop and the two distinct corner crops.
    assert preprocess.views(torch.rand(3, 10, 20), model_spec).shape == (3, 3, size, size)


def test_fcn_input_is_whole_image_capped():
    model_spec = _spec("fcn")
    assert preprocess.whole_image(torch.rand(3, 50, 70), model_spec).shape == (1, 3, 50, 70)
    assert preprocess.whole_image(torch.rand(3, 100, 400), model_spec, max_side=200).shape == (1, 3, 50, 200)


@pytest.mark.parametrize("mode", spec.VIEW_MODES)
@pytest.mark.parametrize("height,width", [(10, 20), (150, 200)])
def test_uint8_pixels_preprocess_like_float(mode, height, width):
    # Decoded images stay uint8 until cropped; the model must see the same input.
    pixels = torch.randint(0, 256, (3, height, width), dtype=torch.uint8)
    as_float = pixels.float() / 255
    for model_spec in (_spec(), _spec("fcn")):
        torch.testing.assert_close(preprocess.views(pixels, model_spec, mode), preprocess.views(as_float, model_spec, mode))
    fcn = _spec("fcn")
    for max_side in (64, 2048):
        expected = preprocess.whole_image(as_float, fcn, max_side=max_side)
        torch.testing.assert_close(preprocess.whole_image(pixels, fcn, max_side=max_side), expected)


def test_platt_fit_recovers_known_posterior():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 20000)
    scores = np.where(labels == 1, rng.normal(1.0, 1.0, labels.size), rng.normal(-1.0, 1.0, labels.size))
    a, b = fit_platt(scores, labels)
    # Two unit-variance Gaussians at +-1: the true log-odds of AI is exactly 2s.
    assert a == pytest.approx(-2.0, abs=0.1) and b == pytest.approx(0.0, abs=0.05)
    scaler = PlattScaler(a, b)
    assert scaler.probability(0.0) == pytest.approx(0.5, abs=0.02)
    assert float(scaler.probability(1e6)) == 1.0 and float(scaler.probability(-1e6)) == 0.0


def test_platt_needs_both_classes():
    with pytest.raises(ValueError):
        fit_platt(np.zeros(4), np.ones(4))


@pytest.mark.parametrize("name", spec.MODEL_NAMES)
def test_service_isolates_a_bad_request_in_a_batch(name):
    model_spec = _spec(name)
    service = DetectionService(make_detector(registry.build_model(name, "tiny"), model_spec))
    good = encode(gradient(70, 50))
    requests = [Request(good), Request(b"not an image"), Request(good, explain=True), Request(b"")]
    outcomes = service.handle(requests)
    assert [o.status for o in outcomes] == [200, 400, 200, 400]
    assert outcomes[0].body["model"] == name and 0 <= outcomes[0].body["probability_ai"] <= 1
    explained = outcomes[2].body["explanations"]
    assert all((e["width"], e["height"]) == (70, 50) for e in explained.values())
    assert outcomes[1].body["error"] == "invalid_image" and outcomes[3].body["error"] == "empty_body"
