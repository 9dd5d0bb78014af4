// The page: pick an image, ask the three models, draw verdicts and heatmaps.
import {
  MODELS, MODEL_TITLES, OVERLAYS, MAX_UPLOAD_BYTES,
  ApiError, bandOf, callModel, combine, percent, resolveApiBase,
} from "./api.js";

// Tokens live in sessionStorage only: gone when the tab closes, never in
// localStorage or cookies.
const TOKEN_KEY = "realcheck.token";
const API_KEY = "realcheck.apiBase";
const REQUEST_TIMEOUT_MS = 180_000;

const $ = (id) => document.getElementById(id);
const els = {
  token: $("token"), apiBase: $("api-base"), forget: $("forget"), settings: $("settings"),
  drop: $("drop"), file: $("file"), error: $("error"),
  results: $("results"), preview: $("preview"), overlay: $("overlay"), caption: $("caption"),
  toggles: document.querySelector(".toggles"), verdicts: $("verdicts"),
  combinedVerdict: $("combined-verdict"), combinedNote: $("combined-note"),
  combinedGauge: document.querySelector("#combined .gauge"),
};

const state = {
  run: 0,             // increases with every image; stale answers are dropped
  controller: null,   // aborts the previous image's requests
  previewUrl: null,
  explanations: {},   // "model/name" -> explanation object
  activeOverlay: null,
};

const VERDICT_WORDS = { ai: "Looks AI-generated", real: "Looks like a real photo", uncertain: "Uncertain" };

function storage() {
  try { return window.sessionStorage; } catch { return null; }
}

function initSettings() {
  const store = storage();
  els.token.value = (store && store.getItem(TOKEN_KEY)) || "";
  els.apiBase.value = resolveApiBase(window.location.search, store && store.getItem(API_KEY));
  if (!els.token.value) els.settings.open = true;
  els.token.addEventListener("input", () => {
    const value = els.token.value.trim();
    if (!store) return;
    if (value) store.setItem(TOKEN_KEY, value); else store.removeItem(TOKEN_KEY);
  });
  els.apiBase.addEventListener("change", () => {
    if (store) store.setItem(API_KEY, els.apiBase.value.trim());
  });
  els.forget.addEventListener("click", () => {
    els.token.value = "";
    if (store) store.removeItem(TOKEN_KEY);
    els.token.focus();
  });
}

function gauge(el, p) {
  el.classList.remove("ai", "real", "uncertain", "has-value");
  const fill = el.querySelector(".fill");
  const marker = el.querySelector(".marker");
  if (p === null || p === undefined) {
    fill.style.width = "0";
    return;
  }
  el.classList.add(bandOf(p), "has-value");
  fill.style.width = `${(p * 100).toFixed(1)}%`;
  marker.style.left = `calc(${(p * 100).toFixed(1)}% - 1.5px)`;
}

function buildCards() {
  for (const model of MODELS) {
    const card = document.createElement("div");
    card.className = "card";
    card.id = `card-${model}`;
    card.dataset.model = model;
    card.dataset.state = "idle";
    const title = document.createElement("h3");
    title.textContent = MODEL_TITLES[model];
    const verdict = document.createElement("p");
    verdict.className = "verdict";
    const g = document.createElement("div");
    g.className = "gauge";
    g.setAttribute("aria-hidden", "true");
    g.innerHTML = '<span class="band"></span><span class="fill"></span><span class="marker"></span>';
    const note = document.createElement("p");
    note.className = "note";
    card.append(title, verdict, g, note);
    els.verdicts.append(card);
  }
}

function card(model) {
  const el = $(`card-${model}`);
  return { el, verdict: el.querySelector(".verdict"), gauge: el.querySelector(".gauge"), note: el.querySelector(".note") };
}

function setCardPending(model) {
  const c = card(model);
  c.el.dataset.state = "pending";
  c.el.classList.remove("failed");
  delete c.el.dataset.probability;
  c.verdict.className = "verdict";
  c.verdict.textContent = "Analysing…";
  c.note.textContent = "";
  gauge(c.gauge, null);
}

function setCardResult(model, body) {
  const c = card(model);
  const p = body.probability_ai;
  const band = bandOf(p);
  c.el.dataset.state = "done";
  c.el.dataset.probability = String(p);
  c.verdict.className = `verdict ${band}`;
  c.verdict.textContent = `${VERDICT_WORDS[band]}: ${percent(p)} probability AI`;
  const parts = [
    body.calibrated ? "calibrated" : "not calibrated (raw score)",
    `model says “${body.label}” at threshold ${percent(body.threshold)}`,
  ];
  if (typeof body.ai_pixel_fraction === "number") parts.push(`AI-like pixels: ${percent(body.ai_pixel_fraction)}`);
  if (body.model_version) parts.push(`version ${body.model_version}`);
  c.note.textContent = parts.join(" · ");
  gauge(c.gauge, p);
}

function setCardError(model, err) {
  const c = card(model);
  c.el.dataset.state = "error";
  c.el.classList.add("failed");
  c.verdict.className = "verdict";
  c.verdict.textContent = "No result";
  c.note.textContent = err.message;
  gauge(c.gauge, null);
}

function buildToggles() {
  for (const o of OVERLAYS) addToggle(o.model, o.name, o.title);
}

function addToggle(model, name, title) {
  const key = `${model}/${name}`;
  let button = els.toggles.querySelector(`[data-overlay="${CSS.escape(key)}"]`);
  if (button) return button;
  button = document.createElement("button");
  button.type = "button";
  button.dataset.overlay = key;
  button.setAttribute("aria-pressed", "false");
  button.disabled = true;
  button.textContent = title || `${name.replace(/_/g, " ")} (${MODEL_TITLES[model] || model})`;
  button.addEventListener("click", () => toggleOverlay(key, button));
  els.toggles.append(button);
  return button;
}

function resetOverlays() {
  state.explanations = {};
  state.activeOverlay = null;
  els.overlay.hidden = true;
  els.overlay.removeAttribute("src");
  for (const b of els.toggles.querySelectorAll("button")) {
    b.disabled = true;
    b.setAttribute("aria-pressed", "false");
  }
  els.caption.textContent = "Preview";
}

function toggleOverlay(key, button) {
  const turnOn = state.activeOverlay !== key;
  for (const b of els.toggles.querySelectorAll("button")) b.setAttribute("aria-pressed", "false");
  if (!turnOn) {
    state.activeOverlay = null;
    els.overlay.hidden = true;
    els.caption.textContent = "Preview (no overlay)";
    return;
  }
  const exp = state.explanations[key];
  if (!exp) return;
  state.activeOverlay = key;
  button.setAttribute("aria-pressed", "true");
  els.overlay.src = `data:image/png;base64,${exp.heatmap_png}`;
  els.overlay.hidden = false;
  els.caption.textContent = `Showing the ${button.textContent} heatmap over the image. Warm colours mark the areas that drove the score.`;
}

function addExplanations(model, body) {
  const explanations = body.explanations || {};
  for (const [name, exp] of Object.entries(explanations)) {
    if (!exp || typeof exp.heatmap_png !== "string") continue;
    const key = `${model}/${name}`;
    state.explanations[key] = exp;
    addToggle(model, name).disabled = false;
  }
}

function showErrors(messages) {
  const unique = [...new Set(messages)];
  els.error.textContent = unique.join(" ");
  els.error.hidden = unique.length === 0;
}

function setCombined(results) {
  const ps = MODELS.map((m) => results[m]).filter((r) => r && !(r instanceof Error)).map((r) => r.probability_ai);
  const p = combine(ps);
  els.combinedVerdict.className = "verdict";
  if (p === null) {
    els.combinedVerdict.textContent = "No verdict: no model answered.";
    els.combinedNote.textContent = "";
    gauge(els.combinedGauge, null);
    return;
  }
  const band = bandOf(p);
  els.combinedVerdict.classList.add(band);
  els.combinedVerdict.textContent = `${VERDICT_WORDS[band]}: ${percent(p)} probability AI`;
  els.combinedNote.textContent =
    `Mean of ${ps.length} of ${MODELS.length} models. Between 35% and 65% the models cannot tell, and even outside it they can be wrong.`;
  gauge(els.combinedGauge, p);
}

async function analyse(file) {
  if (!file) return;
  if (state.controller) state.controller.abort();
  const run = ++state.run;
  const controller = new AbortController();
  state.controller = controller;
  const timer = setTimeout(
    () => controller.abort(new DOMException("The server took too long.", "TimeoutError")),
    REQUEST_TIMEOUT_MS,
  );

  showErrors([]);
  resetOverlays();
  els.results.hidden = false;
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = URL.createObjectURL(file);
  els.preview.src = state.previewUrl;
  els.preview.alt = file.name ? `The image being checked: ${file.name}` : "The image being checked";

  if (file.size > MAX_UPLOAD_BYTES) {
    clearTimeout(timer);
    const err = new ApiError("too_large", `The image is too large (${(file.size / 1048576).toFixed(1)} MiB; the server accepts up to 64 MiB). Try a smaller or downscaled copy.`, 413);
    for (const m of MODELS) setCardError(m, err);
    setCombined({});
    showErrors([err.message]);
    return;
  }

  els.verdicts.setAttribute("aria-busy", "true");
  els.combinedVerdict.className = "verdict";
  els.combinedVerdict.textContent = "Waiting for the models…";
  els.combinedNote.textContent = "";
  gauge(els.combinedGauge, null);
  for (const m of MODELS) setCardPending(m);

  const base = els.apiBase.value.trim().replace(/\/+$/, "") || resolveApiBase("", null);
  const token = els.token.value.trim();
  const results = {};
  // One /explanations call per model: it returns the same scores as
  // /predictions plus the heatmaps, so each image costs three requests, not six.
  await Promise.all(MODELS.map(async (model) => {
    try {
      const body = await callModel({
        base, model, token, image: file, signal: controller.signal, pageOrigin: window.location.origin,
      });
      if (run !== state.run) return;
      results[model] = body;
      setCardResult(model, body);
      addExplanations(model, body);
    } catch (err) {
      if (run !== state.run) return;
      const e = err instanceof ApiError ? err
        : err && err.name === "TimeoutError" ? new ApiError("timeout", "The server took longer than 3 minutes to answer. Try again, or try a smaller image.")
          : new ApiError("client", `The request failed: ${err && err.message ? err.message : err}`);
      results[model] = e;
      setCardError(model, e);
    }
  }));
  clearTimeout(timer);
  if (run !== state.run) return;

  els.verdicts.setAttribute("aria-busy", "false");
  setCombined(results);
  const errors = MODELS.map((m) => results[m]).filter((r) => r instanceof Error);
  showErrors(errors.map((e) => e.message));
  if (errors.some((e) => e.kind === "auth")) els.settings.open = true;
}

function firstImageFile(items) {
  for (const item of items || []) {
    const file = item instanceof File ? item : item.kind === "file" ? item.getAsFile() : null;
    if (file) return file;
  }
  return null;
}

function initInputs() {
  els.file.addEventListener("change", () => {
    analyse(els.file.files[0]);
    els.file.value = "";
  });
  // Drop anywhere on the page; the dashed box just shows where.
  window.addEventListener("dragover", (e) => {
    e.preventDefault();
    els.drop.classList.add("dragging");
  });
  window.addEventListener("dragleave", (e) => {
    if (e.relatedTarget === null) els.drop.classList.remove("dragging");
  });
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    els.drop.classList.remove("dragging");
    analyse(firstImageFile(e.dataTransfer && e.dataTransfer.files));
  });
  document.addEventListener("paste", (e) => {
    const file = firstImageFile(e.clipboardData && e.clipboardData.items);
    if (!file) return; // let text paste into the token and URL fields
    e.preventDefault();
    analyse(file);
  });
  els.preview.addEventListener("error", () => {
    if (els.preview.getAttribute("src")) els.caption.textContent = "The browser cannot display this file as an image.";
  });
}

initSettings();
buildCards();
buildToggles();
initInputs();
document.documentElement.dataset.ready = "true";
