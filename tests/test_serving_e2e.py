"""End to end: a real TorchServe serving the tiny archives, over real HTTP, with the token."""

from __future__ import annotations

import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import requests
from PIL import Image

from realcheck import spec
from realcheck.detector import load_detector
from realcheck.imageio import decode_image

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parent.parent
PREDICTION_SCHEMA = json.loads((ROOT / "schemas" / "prediction.schema.json").read_text())
ERROR_SCHEMA = json.loads((ROOT / "schemas" / "error.schema.json").read_text())
EXPLANATIONS = {"cnn": {"grad_cam", "guided_backprop"}, "fcn": {"pixel_map"}, "vit": {"attention_rollout"}}


def post(server, path: str, **kwargs) -> requests.Response:
    # Raw image bodies go as octet-stream: without a type, TorchServe may parse them as a form.
    raw = {"Content-Type": "application/octet-stream"} if "data" in kwargs else {}
    headers = {**server.auth(), **raw, **kwargs.pop("headers", {})}
    return requests.post(f"{server.inference_url}{path}", headers=headers, timeout=120, **kwargs)


def manage(server, method: str, path: str) -> requests.Response:
    return requests.request(method, f"{server.management_url}{path}", headers=server.auth("management"), timeout=120)


def test_frontend_logs_one_access_line_per_request_and_no_debug(torchserve, ai_png_bytes):
    logs = torchserve.workdir / "logs"
    before = (logs / "access_log.log").read_text().count("/predictions/cnn")
    assert post(torchserve, "/predictions/cnn", data=ai_png_bytes).status_code == 200
    assert (logs / "access_log.log").read_text().count("/predictions/cnn") == before + 1
    # TorchServe's built-in configuration logs every request at DEBUG, several lines each.
    assert "DEBUG" not in (logs / "ts_log.log").read_text()


def test_ping_needs_the_token_too(torchserve):
    # TorchServe 0.12 checks the token on /ping as well: health checks must send it.
    response = requests.get(f"{torchserve.inference_url}/ping", headers=torchserve.auth(), timeout=10)
    assert response.status_code == 200 and response.json()["status"] == "Healthy"
    assert requests.get(f"{torchserve.inference_url}/ping", timeout=10).status_code in (400, 401)


@pytest.mark.parametrize("model", spec.MODEL_NAMES)
def test_prediction_matches_schema(torchserve, model, ai_png_bytes):
    response = post(torchserve, f"/predictions/{model}", data=ai_png_bytes)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    jsonschema.validate(body, PREDICTION_SCHEMA)
    assert body["model"] == model and body["calibrated"] is True
    assert body["probability_ai"] + body["probability_real"] == pytest.approx(1.0)
    assert "explanations" not in body
    assert ("ai_pixel_fraction" in body) == (model == "fcn")


@pytest.mark.parametrize("model", spec.MODEL_NAMES)
def test_explanations_decode_to_pngs_of_the_image_size(torchserve, model, real_png_bytes):
    width, height = Image.open(io.BytesIO(real_png_bytes)).size
    response = post(torchserve, f"/explanations/{model}", data=real_png_bytes)
    assert response.status_code == 200, response.text
    body = response.json()
    jsonschema.validate(body, PREDICTION_SCHEMA)
    assert set(body["explanations"]) == EXPLANATIONS[model]
    for entry in body["explanations"].values():
        assert (entry["width"], entry["height"]) == (width, height)
        for key in ("png", "heatmap_png"):
            image = Image.open(io.BytesIO(base64.b64decode(entry[key])))
            assert image.format == "PNG" and image.size == (width, height)


@pytest.mark.parametrize("model", spec.MODEL_NAMES)
def test_served_probability_matches_offline_pipeline(torchserve, tiny_run, model, ai_png_bytes):
    offline = load_detector(tiny_run / model / "model.pt", tiny_run / model / spec.CALIBRATION_FILE)
    expected = offline.predict([decode_image(ai_png_bytes)])[0]
    served = post(torchserve, f"/predictions/{model}", data=ai_png_bytes).json()
    assert served["probability_ai"] == pytest.approx(expected["probability_ai"], abs=1e-5)
    assert served["raw_score"] == pytest.approx(expected["raw_score"], abs=1e-4)


def test_multipart_and_base64_json_inputs(torchserve, ai_png_bytes):
    direct = post(torchserve, "/predictions/cnn", data=ai_png_bytes).json()
    for kwargs in (
        {"files": {"data": ("x.png", ai_png_bytes, "image/png")}},
        {"files": {"file": ("x.png", ai_png_bytes, "image/png")}},
        {"json": {"image": base64.b64encode(ai_png_bytes).decode()}},
    ):
        response = post(torchserve, "/predictions/cnn", **kwargs)
        assert response.status_code == 200, response.text
        assert response.json()["probability_ai"] == pytest.approx(direct["probability_ai"], abs=1e-6)


def test_one_corrupt_request_in_a_concurrent_batch_fails_alone(torchserve, ai_png_bytes, real_png_bytes):
    # Scale the CNN to batches of 8 so the eight requests can share one handler call.
    bodies = [ai_png_bytes, real_png_bytes] * 3 + [ai_png_bytes, b"\x89PNG\r\n\x1a\n corrupt"]
    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(lambda body: post(torchserve, "/predictions/cnn", data=body), bodies))
    statuses = [r.status_code for r in responses]
    assert sorted(statuses) == [200] * 7 + [400], statuses
    assert statuses[-1] == 400
    jsonschema.validate(responses[-1].json(), ERROR_SCHEMA)
    for response in responses[:-1]:
        jsonschema.validate(response.json(), PREDICTION_SCHEMA)


@pytest.mark.parametrize(
    "body, status, error",
    [
        (b"", 400, "empty_body"),
        (b"just some text, not a picture", 400, "invalid_image"),
    ],
)
def test_bad_bodies_get_a_json_client_error(torchserve, body, status, error):
    response = post(torchserve, "/predictions/cnn", data=body)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    jsonschema.validate(response.json(), ERROR_SCHEMA)
    assert response.json()["error"] == error


def test_text_content_type_is_refused(torchserve):
    response = post(torchserve, "/predictions/vit", data="hello", headers={"Content-Type": "text/plain"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_image"


def test_image_over_the_pixel_limit_is_refused(torchserve):
    # 8000 x 6000 = 48 MP, over the archives' 40 MP limit, yet a small PNG file.
    buffer = io.BytesIO()
    Image.new("L", (8000, 6000)).save(buffer, format="PNG")
    response = post(torchserve, "/predictions/cnn", data=buffer.getvalue())
    assert response.status_code == 413
    assert response.json()["error"] == "image_too_large"


def test_body_over_max_request_size_is_refused(torchserve):
    response = post(torchserve, "/predictions/cnn", data=np.random.bytes(70 * 1024 * 1024))
    assert response.status_code == 413


def test_requests_without_the_token_are_refused(torchserve, ai_png_bytes):
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = requests.post(f"{torchserve.inference_url}/predictions/cnn", data=ai_png_bytes, headers=headers, timeout=30)
        assert response.status_code in (400, 401), response.text
        assert "Token Authorization failed" in response.text
    response = requests.get(f"{torchserve.management_url}/models", timeout=30)
    assert response.status_code in (400, 401)


def test_workers_scale_up_and_down_through_the_management_api(torchserve, ai_png_bytes):
    def workers() -> int:
        return len(manage(torchserve, "GET", "/models/fcn").json()[0]["workers"])

    assert workers() == 1
    assert manage(torchserve, "PUT", "/models/fcn?min_worker=2&max_worker=2&synchronous=true").status_code == 200
    assert workers() == 2
    assert post(torchserve, "/predictions/fcn", data=ai_png_bytes).status_code == 200
    assert manage(torchserve, "PUT", "/models/fcn?min_worker=1&max_worker=1&synchronous=true").status_code == 200
    assert workers() == 1


def test_model_registration_is_refused(torchserve):
    assert manage(torchserve, "POST", "/models?url=cnn.mar").status_code == 405
    assert manage(torchserve, "DELETE", "/models/cnn").status_code == 405
    assert post(torchserve, "/predictions/cnn", data=b"").status_code == 400  # the model is still there


def test_metrics_are_exposed_for_prometheus(torchserve, ai_png_bytes):
    post(torchserve, "/predictions/cnn", data=ai_png_bytes)
    text = requests.get(f"{torchserve.metrics_url}/metrics", headers=torchserve.auth("management"), timeout=30).text
    assert "ts_inference_requests_total" in text
