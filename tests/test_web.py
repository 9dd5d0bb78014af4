"""The web page in real Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Two groups:

* page-only tests run web/serve.py in front of either a closed port or a small
  stand-in for TorchServe that answers like TorchServe 0.12 does (including its
  400 InvalidKeyException for a bad token). They need no models.
* end-to-end tests run web/serve.py in front of the real TorchServe from the
  ``torchserve`` fixture (tests/conftest.py) and upload real images.

Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import base64
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVE = ROOT / "web" / "serve.py"
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
MODELS = ("cnn", "fcn", "vit")
OVERLAYS = ("cnn/grad_cam", "cnn/guided_backprop", "fcn/pixel_map", "vit/attention_rollout")
# Page actions fail fast; waiting for the models may take longer on 2 CPU cores.
ACTION_TIMEOUT_MS = 15_000
TIMEOUT_MS = 120_000

pytestmark = pytest.mark.browser


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: browser tests must run)")
    pytest.skip(reason)


try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None


# ---------------------------------------------------------------------------
# Processes and the browser
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen | None = None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"web/serve.py exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port}")


class UI:
    """web/serve.py as a subprocess: the page on ``url``, /api forwarded to ``api``."""

    def __init__(self, port: int, api: str):
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        command = [sys.executable, str(SERVE), "--port", str(port), "--api", api, "--quiet"]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_port(port, self.process)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()


@pytest.fixture(scope="module")
def browser():
    if sync_playwright is None:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is absent (scripts/install-chromium.sh installs it)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    p = context.new_page()
    p.errors = []
    p.on("pageerror", lambda exc: p.errors.append(str(exc)))
    yield p
    assert not p.errors, f"JavaScript errors on the page: {p.errors}"


# ---------------------------------------------------------------------------
# A stand-in for TorchServe 0.12, for the page-only tests
# ---------------------------------------------------------------------------

GOOD_TOKEN = "good-token"


def _png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _fake_answer(model: str, explain: bool) -> dict:
    p = {"cnn": 0.91, "fcn": 0.55, "vit": 0.12}[model]
    body = {
        "model": model,
        "model_version": "test",
        "label": "ai" if p >= 0.5 else "real",
        "probability_ai": p,
        "probability_real": 1 - p,
        "raw_score": 0.3,
        "calibrated": True,
        "threshold": 0.5,
    }
    if model == "fcn":
        body["ai_pixel_fraction"] = 0.4
    if explain:
        names = {"cnn": ("grad_cam", "guided_backprop"), "fcn": ("pixel_map",), "vit": ("attention_rollout",)}[model]
        heat = base64.b64encode(_png(48, 32, (255, 0, 0))).decode()
        body["explanations"] = {n: {"png": heat, "heatmap_png": heat, "width": 48, "height": 32} for n in names}
    return body


class FakeTorchServe(http.server.BaseHTTPRequestHandler):
    """Answers /predictions and /explanations the way TorchServe 0.12 + our handlers do."""

    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, status: int, body: dict | None) -> None:
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        data = self.rfile.read(length)
        parts = self.path.strip("/").split("/")
        if self.headers.get("Authorization") != f"Bearer {GOOD_TOKEN}":
            # TorchServe 0.12: 400, not 401, for a missing or wrong token.
            self._send(400, {"code": 400, "type": "InvalidKeyException",
                             "message": "Token Authorization failed. Token either incorrect, expired, or not provided correctly"})
        elif data.startswith(b"TOO-LARGE"):
            self._send(413, None)
        elif not data:
            self._send(400, {"error": "empty_body", "detail": "the request has no body"})
        elif not data.startswith(b"\x89PNG"):
            self._send(400, {"error": "invalid_image", "detail": "cannot identify image file"})
        elif len(parts) == 2 and parts[0] in ("predictions", "explanations") and parts[1] in MODELS:
            self._send(200, _fake_answer(parts[1], parts[0] == "explanations"))
        else:
            self._send(404, {"code": 404, "type": "ModelNotFoundException", "message": f"Model not found: {parts[-1]}"})


@pytest.fixture(scope="module")
def fake_api():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeTorchServe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def fake_ui(fake_api):
    ui = UI(free_port(), fake_api)
    yield ui
    ui.stop()


@pytest.fixture(scope="module")
def closed_port() -> int:
    return free_port()  # nothing listens on it once the probe socket is closed


@pytest.fixture(scope="module")
def down_ui(closed_port):
    """The page, forwarding to a port where no TorchServe listens."""
    ui = UI(free_port(), f"http://127.0.0.1:{closed_port}")
    yield ui
    ui.stop()


# ---------------------------------------------------------------------------
# Page helpers
# ---------------------------------------------------------------------------


def open_page(page, url: str, token: str | None = None) -> None:
    page.goto(url)
    page.wait_for_selector("html[data-ready='true']")
    if token is not None:
        page.fill("#token", token)


def upload(page, data: bytes, name: str = "image.png", mime: str = "image/png") -> None:
    page.set_input_files("#file", files=[{"name": name, "mimeType": mime, "buffer": data}])
    # Done when no model card is waiting any more.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.card[data-model]')]"
        ".every(c => c.dataset.state === 'done' || c.dataset.state === 'error')",
        timeout=TIMEOUT_MS,
    )


def card_states(page) -> dict:
    return page.eval_on_selector_all(
        ".card[data-model]",
        "cards => Object.fromEntries(cards.map(c => [c.dataset.model, "
        "{state: c.dataset.state, p: c.dataset.probability, text: c.innerText}]))",
    )


def error_text(page) -> str:
    return page.inner_text("#error") if page.is_visible("#error") else ""


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def assert_overlay_shows(page, key: str) -> None:
    button = page.locator(f"button[data-overlay='{key}']")
    assert button.is_enabled(), f"toggle {key} is not enabled"
    button.click()
    assert button.get_attribute("aria-pressed") == "true"
    page.wait_for_function(
        "() => { const o = document.getElementById('overlay');"
        " return !o.hidden && o.complete && o.naturalWidth > 0 && o.getBoundingClientRect().width > 0; }"
    )


# ---------------------------------------------------------------------------
# Page-only tests (no TorchServe needed)
# ---------------------------------------------------------------------------


def test_token_lives_in_session_storage_only(page, context, fake_ui):
    open_page(page, fake_ui.url, token="s3cret")
    page.fill("#api-base", "/api")
    stored = page.evaluate(
        "() => ({session: sessionStorage.getItem('realcheck.token'), local: localStorage.length, cookie: document.cookie})"
    )
    assert stored == {"session": "s3cret", "local": 0, "cookie": ""}
    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    assert page.input_value("#token") == "s3cret"  # same tab: kept
    other = context.new_page()  # a new tab has its own sessionStorage
    open_page(other, fake_ui.url)
    assert other.input_value("#token") == ""
    page.click("#settings summary")  # a remembered token keeps the settings folded
    page.click("#forget")
    assert page.evaluate("() => sessionStorage.getItem('realcheck.token')") is None


def test_api_base_defaults_to_same_origin_and_query_overrides(page, fake_ui):
    open_page(page, fake_ui.url)
    assert page.input_value("#api-base") == "/api"
    open_page(page, fake_ui.url + "?api=http://example.invalid:8080/")
    assert page.input_value("#api-base") == "http://example.invalid:8080"


def test_verdicts_overlays_and_phone_layout_with_stand_in(browser, fake_ui):
    ctx = browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True, has_touch=True)
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    page = ctx.new_page()
    try:
        open_page(page, fake_ui.url, token=GOOD_TOKEN)
        upload(page, _png(320, 240, (40, 120, 200)))
        states = card_states(page)
        assert {m: s["state"] for m, s in states.items()} == {m: "done" for m in MODELS}
        assert [round(float(states[m]["p"]), 2) for m in MODELS] == [0.91, 0.55, 0.12]
        assert "91% probability AI" in states["cnn"]["text"]
        assert "Uncertain" in states["fcn"]["text"]  # 0.55 is inside the 0.35-0.65 band
        # Combined: mean(0.91, 0.55, 0.12) = 0.527 -> uncertain.
        assert page.inner_text("#combined-verdict") == "Uncertain: 53% probability AI"
        assert error_text(page) == ""
        for key in OVERLAYS:
            assert_overlay_shows(page, key)
        page.locator(f"button[data-overlay='{OVERLAYS[-1]}']").click()  # pressing again hides it
        assert page.locator("#overlay").is_hidden()
        assert_overlay_shows(page, OVERLAYS[0])
        # 375 px wide: nothing sticks out sideways.
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"page is {overflow}px wider than a 375px phone"
        shot(page, "phone-375-stand-in")
    finally:
        ctx.close()


@pytest.mark.parametrize(
    ("data", "token", "expected"),
    [
        (b"definitely not a picture", GOOD_TOKEN, "not an image the server can read"),
        (b"", GOOD_TOKEN, "The file is empty"),
        (b"TOO-LARGE" + b"\0" * 64, GOOD_TOKEN, "The image is too large"),
        (b"\x89PNG", "", "The token was refused: none was entered"),
        (b"\x89PNG", "wrong", "The token was refused by the server"),
    ],
    ids=["corrupt", "empty", "too-large-413", "missing-token", "wrong-token"],
)
def test_server_errors_in_words_with_stand_in(page, fake_ui, data, token, expected):
    open_page(page, fake_ui.url, token=token)
    upload(page, data, name="upload.png")
    assert expected in error_text(page)
    assert {s["state"] for s in card_states(page).values()} == {"error"}
    assert page.inner_text("#combined-verdict").startswith("No verdict")


@pytest.mark.parametrize("how", ["paste", "drop"])
def test_paste_and_drop_also_send_the_image(page, fake_ui, how):
    open_page(page, fake_ui.url, token=GOOD_TOKEN)
    png = base64.b64encode(_png(40, 30, (200, 30, 30))).decode()
    page.evaluate(
        """([how, b64]) => {
          const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
          const data = new DataTransfer();
          data.items.add(new File([bytes], 'pasted.png', {type: 'image/png'}));
          const event = how === 'paste'
            ? new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true})
            : new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true});
          (how === 'paste' ? document.body : document.getElementById('drop')).dispatchEvent(event);
        }""",
        [how, png],
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('.card[data-model]')].every(c => c.dataset.state === 'done')",
        timeout=ACTION_TIMEOUT_MS,
    )
    assert page.evaluate("() => document.getElementById('preview').naturalWidth") == 40


def test_server_down_through_the_page_server(page, down_ui):
    open_page(page, down_ui.url, token="anything")
    upload(page, _png(64, 64, (0, 0, 0)))
    assert "Server down or unavailable (HTTP 502)" in error_text(page)
    shot(page, "server-down")


def test_server_down_when_api_points_at_a_closed_port(page, fake_ui, closed_port):
    open_page(page, f"{fake_ui.url}?api=http://127.0.0.1:{closed_port}", token="anything")
    upload(page, _png(64, 64, (0, 0, 0)))
    text = error_text(page)
    assert "Server down or unreachable" in text
    assert "CORS" in text  # cross-origin: the page says the preflight may be why


def test_keyboard_reaches_the_file_chooser_and_results_are_announced(page, fake_ui):
    open_page(page, fake_ui.url)
    focused = []
    for _ in range(15):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("() => document.activeElement.id || document.activeElement.tagName"))
        if focused[-1] == "file":
            break
    assert focused[-1] == "file", f"Tab order never reached the file chooser: {focused}"
    assert page.get_attribute("#verdicts", "aria-live") == "polite"
    assert page.get_attribute("#error", "role") == "alert"
    for key in OVERLAYS:
        assert page.get_attribute(f"button[data-overlay='{key}']", "aria-pressed") == "false"
    assert page.evaluate("() => document.querySelector('label[for=token]') !== null && document.querySelector('label[for=api-base]') !== null")


def test_error_mapping_rules_in_the_browser(page, fake_ui):
    open_page(page, fake_ui.url)
    result = page.evaluate(
        """async () => {
          const api = await import('/api.js');
          const k = (s, b, t = true) => api.classifyResponse(s, b, 'cnn', t).kind;
          return {
            tsToken: k(400, {code: 400, type: 'InvalidKeyException', message: 'x'}),
            unauthorized: k(401, null), forbidden: k(403, null),
            tooLarge: k(413, null), tooLargeBody: k(400, {error: 'image_too_large', detail: 'x'}),
            invalid: k(400, {error: 'invalid_image', detail: 'x'}), empty: k(400, {error: 'empty_body', detail: ''}),
            missing: k(404, {code: 404, type: 'ModelNotFoundException'}), busy: k(503, null),
            bands: [0.34, 0.35, 0.5, 0.65, 0.66].map(api.bandOf),
            mean: api.combine([0.2, null, 0.8]), none: api.combine([]),
            query: api.resolveApiBase('?api=http://h:1/', 'x'), remembered: api.resolveApiBase('', 'http://r:2'),
          };
        }"""
    )
    assert result == {
        "tsToken": "auth", "unauthorized": "auth", "forbidden": "auth",
        "tooLarge": "too_large", "tooLargeBody": "too_large",
        "invalid": "not_image", "empty": "not_image",
        "missing": "missing_model", "busy": "down",
        "bands": ["real", "uncertain", "uncertain", "uncertain", "ai"],
        "mean": 0.5, "none": None,
        "query": "http://h:1", "remembered": "http://r:2",
    }


def test_stand_in_answers_match_the_schema():
    """The stand-in must not drift from the real contract the page is written against."""
    jsonschema = pytest.importorskip("jsonschema")
    prediction = json.loads((ROOT / "schemas" / "prediction.schema.json").read_text())
    for model in MODELS:
        for explain in (False, True):
            jsonschema.validate(_fake_answer(model, explain), prediction)


# ---------------------------------------------------------------------------
# End to end: the real TorchServe from tests/conftest.py
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ui(torchserve):
    """web/serve.py on the port the fixture allowed through CORS, forwarding to TorchServe."""
    server = UI(torchserve.ui_port, torchserve.inference_url)
    yield server
    server.stop()


@pytest.mark.e2e
@pytest.mark.parametrize("image", ["real_png_bytes", "ai_png_bytes"])
def test_upload_shows_three_verdicts(page, ui, torchserve, image, request):
    open_page(page, ui.url, token=torchserve.inference_key)
    upload(page, request.getfixturevalue(image), name=f"{image}.png")
    states = card_states(page)
    assert {m: s["state"] for m, s in states.items()} == {m: "done" for m in MODELS}, states
    for model in MODELS:
        assert 0.0 <= float(states[model]["p"]) <= 1.0
        assert "probability AI" in states[model]["text"]
    assert "probability AI" in page.inner_text("#combined-verdict")
    assert error_text(page) == ""
    shot(page, f"e2e-{image.replace('_bytes', '')}")


@pytest.mark.e2e
def test_overlay_toggles_draw_heatmaps(page, ui, torchserve, real_png_bytes):
    open_page(page, ui.url, token=torchserve.inference_key)
    upload(page, real_png_bytes)
    for key in OVERLAYS:
        assert_overlay_shows(page, key)
        if key == "cnn/grad_cam":
            shot(page, "e2e-overlay-grad-cam")
    page.locator("button[data-overlay='vit/attention_rollout']").click()  # pressing again hides it
    assert page.locator("#overlay").is_hidden()


@pytest.mark.e2e
def test_corrupt_file_says_not_an_image(page, ui, torchserve):
    open_page(page, ui.url, token=torchserve.inference_key)
    upload(page, b"\x89PNG\r\n\x1a\n but then garbage", name="corrupt.png")
    assert "not an image the server can read" in error_text(page)
    shot(page, "e2e-corrupt")


@pytest.mark.e2e
@pytest.mark.parametrize("token", ["", "not-the-key"], ids=["missing", "wrong"])
def test_bad_token_says_token_refused(page, ui, torchserve, real_png_bytes, token):
    open_page(page, ui.url, token=token)
    upload(page, real_png_bytes)
    assert "The token was refused" in error_text(page)
    assert page.evaluate("() => document.getElementById('settings').open")
    shot(page, f"e2e-token-{token or 'missing'}")


@pytest.mark.e2e
def test_direct_cross_origin_call_fails_on_token_checked_preflight(page, ui, torchserve, real_png_bytes):
    """Why /api exists: TorchServe 0.12 refuses the CORS preflight (no token on it),
    even for the one origin it allows, so the browser never sends the real request."""
    open_page(page, f"{ui.url}?api={torchserve.inference_url}", token=torchserve.inference_key)
    upload(page, real_png_bytes)
    assert "Server down or unreachable" in error_text(page)
