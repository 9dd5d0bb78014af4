"""``make scale-demo``: add and remove CNN workers through the management API while under load.

    python -m loadtest.scale_demo --runs build/demo --report BENCHMARKS.md

TorchServe starts with one CNN worker (one torch thread each, so workers add
parallelism instead of oversubscribing), warms up, then one Locust run keeps
``--users`` requests in flight while this script calls
``PUT /models/cnn?min_worker=N&max_worker=N&synchronous=true`` with the
management token at each step of ``--steps``. Throughput and latency are
computed per step from the requests completed inside it (after ``--settle``
seconds), and over time for the plot.

By default the server gets every core and Locust shares the last one: on a
2-core machine a second worker needs the second core to show anything. The
report gives Locust's CPU use, which is what it took from the server.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import requests

from . import images, load, report, servers
from .bench import MODEL, ServeConfig, build_store, int_list
from .load import Completion, RunResult, Traffic
from .servers import CpuLayout

CONFIG = ServeConfig(workers=1, batch_size=1, max_batch_delay=0, threads=1, quiet_logs=True)


def scale(target: servers.Target, workers: int) -> float:
    """Set the CNN's worker count and wait until it holds; returns how long the call took (s)."""
    server = target.torchserve
    started = time.monotonic()
    response = requests.put(
        f"{server.management_url}/models/{MODEL}",
        params={"min_worker": workers, "max_worker": workers, "synchronous": "true"},
        headers=server.auth("management"),
        timeout=300,
    )
    response.raise_for_status()
    return time.monotonic() - started


def step_stats(timeline: List[Completion], start: float, end: float) -> dict:
    """Requests completed in [start, end): count, req/s, p50 and p99 (ms)."""
    latencies = [c.ms for c in timeline if start <= c.t < end]
    p50, p99 = np.percentile(latencies, [50, 99]) if latencies else (float("nan"),) * 2
    return {"requests": len(latencies), "rps": len(latencies) / (end - start), "p50_ms": float(p50), "p99_ms": float(p99)}


def failures_between(timeline: List[Completion], start: float, end: float) -> int:
    return sum(1 for c in timeline if start <= c.t < end and not c.ok)


def time_series(timeline: List[Completion], origin: float, bucket: float) -> Dict[str, List[float]]:
    """req/s, p50 and p99 per ``bucket`` seconds, for the plot."""
    end = max(c.t for c in timeline)
    series: Dict[str, List[float]] = {"t": [], "rps": [], "p50_ms": [], "p99_ms": []}
    start = origin
    while start + bucket <= end:
        stats = step_stats(timeline, start, start + bucket)
        if stats["requests"]:
            series["t"].append(start - origin)
            for key in ("rps", "p50_ms", "p99_ms"):
                series[key].append(stats[key])
        start += bucket
    return series


def run(args: argparse.Namespace) -> dict:
    layout = CpuLayout.from_flags(args.server_cpus, args.client_cpus) or CpuLayout.split().widened()
    images.build(args.corpus)  # before the clock starts, not inside a Locust process
    traffic = Traffic(images=args.images, model_weights={MODEL: 1})
    # Locust runs until the last step ends; this only bounds it should the script die.
    limit = len(args.steps) * (args.step_seconds + 300)
    store = build_store(args.runs, args.out, CONFIG)
    print(f"scale demo: {layout.describe()}, steps {args.steps}", flush=True)
    with servers.torchserve(store, args.out / "server", [MODEL], layout.server, CONFIG.server_overrides()) as target:
        load.run(target, traffic, args.users, args.warmup, args.corpus, args.out / "warm-up", layout.client)
        outcome: List[RunResult] = []
        done = threading.Event()
        driver = threading.Thread(
            target=lambda: outcome.append(load.run(target, traffic, args.users, limit, args.corpus, args.out / "run", layout.client, done))
        )
        driver.start()
        time.sleep(args.lead)  # Locust's start and ramp-up
        steps = []
        for index, workers in enumerate(args.steps):
            call_started = time.time()
            call_seconds = scale(target, workers) if index else 0.0
            begin = time.time()
            time.sleep(args.step_seconds)
            steps.append({"workers": workers, "call_started": call_started, "call_s": call_seconds, "begin": begin, "end": time.time()})
            print(f"  {workers} worker(s): PUT took {call_seconds:.1f} s", flush=True)
        done.set()
        driver.join()
    result = outcome[0]
    for step in steps:
        step.update(step_stats(result.timeline, step["begin"] + args.settle, step["end"]))
        # Failures count from the call on: scaling down fails what the removed worker was running.
        step["failures"] = failures_between(result.timeline, step["call_started"], step["end"])
        print(f"  {step['workers']} worker(s): {step['rps']:.2f} req/s, p50 {step['p50_ms']:.0f} ms, p99 {step['p99_ms']:.0f} ms, "
              f"{step['failures']} failed")  # fmt: skip
    origin = steps[0]["begin"]
    return {
        "layout": layout.describe(),
        "config": CONFIG.name,
        "users": args.users,
        "images": args.images,
        "settle_s": args.settle,
        "steps": [{**s, "at_s": s["call_started"] - origin} for s in steps],
        "failures": result.failures,
        "failure_samples": result.failure_samples,
        "requests": result.requests,
        "client_cpu_cores": result.client_cpu_cores,
        "series": time_series(result.timeline, origin, args.bucket),
        "command": shlex.join([".venv/bin/python", "-m", "loadtest.scale_demo", *sys.argv[1:]]),
    }



def markdown(demo: dict, plot_link: str) -> str:
    rows = [
        [
            s["workers"],
            f"{s['call_s']:.1f}" if s["call_s"] else "(start)",
            f"{s['rps']:.2f}",
            f"{s['p50_ms']:.0f}",
            f"{s['p99_ms']:.0f}",
            s["requests"],
            s["failures"],
        ]
        for s in demo["steps"]
    ]
    return (
        "## Scaling workers under load (`make scale-demo`)\n\n"
        f"TorchServe `{demo['config']}` ({demo['layout']}), {demo['users']} Locust users posting `{demo['images']}` "
        "photos without pause; at each step the worker count is set with "
        "`PUT /models/cnn?min_worker=N&max_worker=N&synchronous=true` (management token). Each row counts the "
        f"requests completed after the call returned plus {demo['settle_s']:g} s; failures count from the call on. "
        f"Locust used {demo['client_cpu_cores']:.2f} of a core; {demo['failures']} of {demo['requests']} requests "
        "failed. One run on a shared 2-core machine.\n\n"
        + report.table(["workers", "PUT took s", "req/s", "p50 ms", "p99 ms", "requests", "failed"], rows)
        + "".join(f"\n\n    {sample}" for sample in demo["failure_samples"])
        + "\n\nScaling down is not graceful in TorchServe 0.12: the frontend closes the removed worker's "
        'connection and answers the request it was running with a 500 ("Worker died."), instead of letting it '
        "finish (pytorch/serve#1101, open). So each scale-down under load can fail up to batch size x removed "
        "workers requests. Clients should retry a 500 from a prediction, which is safe: predictions have no side "
        "effects. Requests still queued are not lost; the queue is per model, not per worker."
        + f"\n\n![throughput and latency while scaling]({plot_link})\n\n    {demo['command']}"
    )



def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.scale_demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=Path, default=Path("build/demo"))
    parser.add_argument("--out", type=Path, default=Path("build/scale-demo"))
    parser.add_argument("--corpus", type=Path, default=Path("build/loadtest/corpus"))
    parser.add_argument("--images", default="medium-jpeg")
    parser.add_argument("--steps", type=int_list, default=[1, 2, 1], help="worker counts, one step each")
    parser.add_argument("--step-seconds", type=float, default=25)
    parser.add_argument("--settle", type=float, default=3, help="seconds after each call left out of its step")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=20)
    parser.add_argument("--lead", type=float, default=5, help="seconds for Locust to start before the first step")
    parser.add_argument("--bucket", type=float, default=2, help="seconds per point of the plot")
    parser.add_argument("--server-cpus", default="", help="taskset list for TorchServe (default: every CPU)")
    parser.add_argument("--client-cpus", default="", help="taskset list for Locust (default: the last CPU)")
    parser.add_argument("--report", type=Path, help="regenerate the scale-demo section of this Markdown file")
    parser.add_argument("--plots", type=Path, default=report.PLOTS)
    args = parser.parse_args(argv)
    demo = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(demo, indent=1))
    if args.report:
        path, link = report.plot_path(args.report, args.plots, "scale_demo.png")
        events = [(s["at_s"], f"{s['workers']} worker(s)") for s in demo["steps"]]
        report.plot_timeline(demo["series"], events, path)
        report.replace_section(args.report, "scale-demo", markdown(demo, link))
    return 0


if __name__ == "__main__":
    sys.exit(main())
