// Talking to the realcheck API, and turning every answer into plain words.
// No DOM here: app.js draws, this module decides.

export const MODELS = ["cnn", "fcn", "vit"];

export const MODEL_TITLES = { cnn: "CNN", fcn: "FCN", vit: "ViT" };

// Explanation names the handlers return, in the order the toggles appear.
export const OVERLAYS = [
  { model: "cnn", name: "grad_cam", title: "Grad-CAM (CNN)" },
  { model: "cnn", name: "guided_backprop", title: "Guided Backprop (CNN)" },
  { model: "fcn", name: "pixel_map", title: "Pixel map (FCN)" },
  { model: "vit", name: "attention_rollout", title: "Attention (ViT)" },
];

// Combined probabilities inside this band are reported as "uncertain".
export const UNCERTAIN_LOW = 0.35;
export const UNCERTAIN_HIGH = 0.65;

// The server refuses bodies above max_request_size (64 MiB in our configs);
// checking first saves uploading a file that will be refused anyway.
export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;

// Same-origin path that web/serve.py forwards to TorchServe. TorchServe 0.12
// checks the token on CORS preflight requests too, so a browser cannot call it
// cross-origin with a token; see web/README.md.
export const DEFAULT_API_BASE = "/api";

/** The API base URL: ?api=... wins, then what the tab remembered, then the default. */
export function resolveApiBase(search, remembered) {
  const fromQuery = new URLSearchParams(search).get("api");
  const base = (fromQuery || remembered || DEFAULT_API_BASE).trim();
  return base.replace(/\/+$/, "") || DEFAULT_API_BASE;
}

/** True when requests to `base` leave the page's origin (so CORS applies). */
export function isCrossOrigin(base, pageOrigin) {
  try {
    return new URL(base, pageOrigin).origin !== pageOrigin;
  } catch {
    return true;
  }
}

export class ApiError extends Error {
  constructor(kind, message, status = 0) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
}

const TOKEN_HELP =
  "Enter the inference key from TorchServe's key_file.json (the \"inference\" entry). " +
  "Keys expire after 60 minutes unless the server is configured otherwise.";

/**
 * Map an HTTP answer to an ApiError with a message a person can act on.
 * `body` is the parsed JSON body, or null when there was none.
 */
export function classifyResponse(status, body, model, tokenGiven) {
  const code = body && typeof body.error === "string" ? body.error : "";
  const tsType = body && typeof body.type === "string" ? body.type : "";
  const detail = body && typeof body.detail === "string" ? body.detail : "";

  // TorchServe 0.12 answers a missing or wrong token with 400 InvalidKeyException;
  // 401/403 cover proxies and later versions.
  if (status === 401 || status === 403 || tsType === "InvalidKeyException") {
    const what = tokenGiven ? "The token was refused by the server." : "The token was refused: none was entered.";
    return new ApiError("auth", `${what} ${TOKEN_HELP}`, status);
  }
  if (status === 413 || code === "image_too_large") {
    const why = detail ? ` (${detail})` : "";
    return new ApiError(
      "too_large",
      `The image is too large for the server${why}. Try a smaller or downscaled copy.`,
      status,
    );
  }
  if (code === "empty_body") {
    return new ApiError("not_image", "The file is empty, so there is no image to check.", status);
  }
  if (code === "invalid_image") {
    return new ApiError(
      "not_image",
      "That file is not an image the server can read. Try a PNG, JPEG or WebP picture.",
      status,
    );
  }
  if (code === "invalid_request") {
    return new ApiError("invalid", `The server refused the request: ${detail || "invalid request"}.`, status);
  }
  if (status === 404) {
    return new ApiError(
      "missing_model",
      `The ${MODEL_TITLES[model] || model} model is not loaded on the server.`,
      status,
    );
  }
  if (status === 502 || status === 503 || status === 504) {
    return new ApiError(
      "down",
      `Server down or unavailable (HTTP ${status}). It may still be starting or be overloaded; try again in a minute.`,
      status,
    );
  }
  return new ApiError("server", `The server could not check this image (HTTP ${status}).`, status);
}

/** The message for a request that never got an HTTP answer. */
export function networkError(base, pageOrigin) {
  let message = `Server down or unreachable: no answer from ${base}. Check that it is running and try again.`;
  if (isCrossOrigin(base, pageOrigin)) {
    message +=
      " The page is calling another origin directly, so the browser's cross-origin (CORS) check " +
      "may also have been refused; TorchServe 0.12 refuses it whenever token auth is on. " +
      "Use this page's own server (make ui) instead.";
  }
  return new ApiError("down", message, 0);
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/**
 * POST the image to {base}/{endpoint}/{model}. Resolves to the parsed body of a
 * 200 answer; rejects with ApiError otherwise (AbortError passes through).
 */
export async function callModel({ base, endpoint = "explanations", model, token, image, signal, pageOrigin }) {
  const headers = { "Content-Type": "application/octet-stream" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(`${base}/${endpoint}/${encodeURIComponent(model)}`, {
      method: "POST",
      headers,
      body: image,
      signal,
      credentials: "omit",
      cache: "no-store",
    });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw networkError(base, pageOrigin);
  }
  const body = await readJson(response);
  if (!response.ok) throw classifyResponse(response.status, body, model, Boolean(token));
  if (!body || typeof body.probability_ai !== "number") {
    throw new ApiError("server", "The server answered, but not with a realcheck result.", response.status);
  }
  return body;
}

/** "ai", "real" or "uncertain" for a probability that the image is AI-made. */
export function bandOf(p) {
  if (p < UNCERTAIN_LOW) return "real";
  if (p > UNCERTAIN_HIGH) return "ai";
  return "uncertain";
}

/** Mean of the available probabilities, or null when there are none. */
export function combine(probabilities) {
  const ps = probabilities.filter((p) => typeof p === "number" && Number.isFinite(p));
  if (ps.length === 0) return null;
  return ps.reduce((a, b) => a + b, 0) / ps.length;
}

export function percent(p) {
  return `${Math.round(p * 100)}%`;
}
