"""The benchmark tooling end to end on the tiny models: `make bench-smoke` and a short scale demo.

Only the shape of the results and the absence of failed requests are checked:
timings on a shared CI machine prove nothing, so no assertion looks at them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest import checks, images
from loadtest.servers import CpuLayout

ROOT = Path(__file__).resolve().parent.parent
RUN_FIELDS = {"users", "seconds", "requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms", "error_rate", "server_cpu_ms", "command"}


def run_module(module: str, *args: str) -> None:
    # A subprocess: the tools pin their own process to CPUs, which must not outlive them in pytest's.
    subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, check=True)


@pytest.mark.e2e
def test_smoke_benchmark_measures_every_phase_without_failures(tiny_run, tmp_path):
    run_module("loadtest.bench", "--smoke", "--runs", str(tiny_run), "--model-store", str(tiny_run / "model_store"),
               "--out", str(tmp_path), "--report", str(tmp_path / "BENCHMARKS.md"), "--plots", str(tmp_path / "plots"))  # fmt: skip
    results = json.loads((tmp_path / "results.json").read_text())
    assert {"meta", "costs", "grid", "raw", "sweep", "paced", "wide", "mix", "targets"} <= set(results)

    runs = [run for entry in results["grid"] for run in entry["runs"]]
    for phase in ("sweep", "wide"):
        runs += [run for server in ("torchserve", "flask") for level in results[phase][server].values() for run in level["runs"]]
    runs += [run for arrivals in ("poisson", "even") for run in results["paced"][arrivals]["runs"]]
    for run in runs:
        assert RUN_FIELDS <= set(run)
        assert run["requests"] > 0 and run["failures"] == 0 and run["error_rate"] == 0
    assert {"frontend", "workers"} <= set(results["grid"][0]["runs"][0]["server_usage"]["cpu_cores"])
    assert results["mix"]["failures"] == 0 and {r["name"].split()[0] for r in results["mix"]["by_name"]} >= {"predictions/cnn"}
    assert {"batch1", "best_batch", "served_saturation"} <= set(results["raw"]["repeats"][0])
    assert {"decode_ms", "preprocess_ms", "predict_ms"} <= set(results["costs"][0])

    targets = results["targets"]
    assert targets["failed_requests"]["value"] == 0
    assert {"served_over_raw", "served_over_raw_cpu", "p99_over_p50_at_70pct_even", "p99_over_p50_at_70pct_poisson"} <= set(targets)
    assert {"beats_flask_at_8_plus_sweep", "beats_flask_at_8_plus_wide"} <= set(targets)
    report = (tmp_path / "BENCHMARKS.md").read_text()
    assert "<!-- bench:start -->" in report and "Flask" in report
    assert (tmp_path / "plots" / "throughput.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.e2e
def test_scale_demo_changes_workers_under_load(tiny_run, tmp_path):
    run_module("loadtest.scale_demo", "--runs", str(tiny_run), "--out", str(tmp_path), "--steps", "1,2,1",
               "--step-seconds", "4", "--settle", "1", "--warmup", "2", "--users", "4")  # fmt: skip
    demo = json.loads((tmp_path / "scale.json").read_text())
    assert [step["workers"] for step in demo["steps"]] == [1, 2, 1]
    assert demo["requests"] > 0 and all(step["requests"] > 0 for step in demo["steps"])
    # Starting and scaling up lose nothing. Scaling down may fail the one request (batch size 1) the
    # removed worker is running: TorchServe answers it "Worker died." (pytorch/serve#1101), nothing else.
    start, up, down = demo["steps"]
    assert start["failures"] == up["failures"] == 0
    assert down["failures"] <= 1 and demo["failures"] == down["failures"]
    assert all("Worker died." in sample for sample in demo["failure_samples"])


def test_corpus_mix_weights_split_between_photos(tmp_path):
    # Two photos of one class share its weight, so a class's share of requests is what the mix says.
    corpus = [images.CorpusImage("small-jpeg", tmp_path / f"{i}.jpg", 640, 480) for i in range(2)]
    corpus.append(images.CorpusImage("large-png", tmp_path / "l.png", 4000, 3000))
    chosen = images.select(corpus, "small-jpeg:4,large-png:1")
    assert [weight for _, weight in chosen] == [2.0, 2.0, 1.0]
    with pytest.raises(ValueError):
        images.parse_mix("huge-gif:1")


def test_locust_checks_reject_wrong_answers():
    good = {"model": "cnn", "model_version": "0.1.0", "label": "ai", "probability_ai": 0.9, "probability_real": 0.1,
            "raw_score": 2.0, "calibrated": True, "threshold": 0.5}  # fmt: skip
    assert checks.problem(200, json.dumps(good), "cnn", explain=False) is None
    assert "HTTP 503" in checks.problem(503, "busy", "cnn", explain=False)
    assert "answered by cnn" in checks.problem(200, json.dumps(good), "vit", explain=False)
    assert "schema" in checks.problem(200, json.dumps({**good, "probability_ai": 2}), "cnn", explain=False)
    assert "explanations missing" in checks.problem(200, json.dumps(good), "cnn", explain=True)


def test_cpu_flags_go_together_and_widen_to_every_core():
    assert CpuLayout.from_flags("", "") is None
    layout = CpuLayout.from_flags("0-1", "2")
    assert layout == CpuLayout({0, 1}, {2}) and layout.widened() == CpuLayout({0, 1, 2}, {2})
    # One flag alone used to be ignored (client) or pin Locust to no CPU at all (server).
    for server, client in (("0", ""), ("", "1")):
        with pytest.raises(ValueError):
            CpuLayout.from_flags(server, client)
