"""BENCHMARKS.md sections and plots from results.json (bench) and scale.json (scale demo).

Only the text between this tool's markers is rewritten; whatever others wrote
around it (training time, `make serve` time, the operator guide) stays.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Dict, List, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display on the benchmark machine
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from .load import CDF_POINTS  # noqa: E402

PLOTS = Path(__file__).resolve().parent / "plots"  # committed next to BENCHMARKS.md


def replace_section(path: Path, name: str, body: str) -> None:
    """Put ``body`` between the lines ``<!-- name:start -->`` and ``<!-- name:end -->``, appending them if absent."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.strip()}\n{end}"
    # Markers count only on lines of their own, so prose may mention them.
    pattern = re.compile(rf"^{re.escape(start)}$.*?^{re.escape(end)}$", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _ms(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def plot_path(report: Path, plots: Path, name: str) -> tuple[Path, str]:
    """Where a plot is written, and the link to it from the report."""
    plots.mkdir(parents=True, exist_ok=True)
    path = plots.resolve() / name
    try:
        link = path.relative_to(report.resolve().parent).as_posix()
    except ValueError:
        link = path.as_posix()
    return path, link


# ------------------------------------------------------------------------ bench


def write(results: dict, report: Path, plots: Path = PLOTS) -> None:
    """Regenerate the bench section of ``report`` (and its plots, in ``plots``) from one results.json."""
    replace_section(report, "bench", bench_markdown(results, report, plots))


def bench_markdown(results: dict, report: Path, plots: Path) -> str:
    meta = results["meta"]
    args = meta["args"]
    parts = [
        "## Serving benchmark (`make bench`)",
        f"Measured {meta['date']} at commit `{meta['commit']}` on {meta['cpu']} ({meta['cpus']} cores, "
        f"{meta['memory_gib']:.0f} GiB). **These numbers come from one run on a shared 2-core machine** "
        f"(load average {meta['load_before'][0]:.2f} before, {meta['load_after'][0]:.2f} after): other jobs can move "
        f"any row by 10% or more, so compare rows of the same run, not across runs. {meta['layout'][0].upper()}{meta['layout'][1:]}: "
        "both servers and the raw measurement run on the same core(s), pinned with `sched_setaffinity` (inherited by "
        "every process and thread they start), and Locust runs on the other, so the load generator does not take "
        "CPU from the server; the Locust CPU column shows it had headroom. "
        f"Every served number is the median of {args['repeats']} Locust runs of {float(args['seconds']):g} s "
        f"(`--reset-stats`, after a {float(args['warmup']):g} s warm-up per server start); requests post "
        f"`{args['images']}` photos unless stated. The whole section took {meta['wall_s'] / 60:.0f} min to make:\n\n"
        f"    {meta['command']}",
    ]
    parts.append(_targets(results["targets"]))
    if "costs" in results:
        parts.append(_stage_costs(results["costs"]))
    if "grid" in results:
        parts.append(_grid(results["grid"]))
    if "sweep" in results:
        parts.append(_sweep(results, report, plots))
    if "paced" in results:
        parts.append(_paced(results["paced"]))
    if "wide" in results:
        parts.append(_wide(results["wide"]))
    if "mix" in results:
        parts.append(_mix(results["mix"]))
    return "\n\n".join(parts)


def _verdict(passed: bool) -> str:
    return "pass" if passed else "**FAIL**"


def _targets(found: dict) -> str:
    rows = []
    if "served_over_raw" in found:
        t = found["served_over_raw"]
        per = ", ".join(f"{r:.2f}" for r in t["per_repeat"])
        rows.append(
            [
                "served / raw in-process throughput, at saturation",
                f"{t['value']:.2f} (repeats: {per})",
                f">= {t['threshold']}",
                _verdict(t["pass"]),
            ]
        )
    for arrivals in ("even", "poisson"):
        key = f"p99_over_p50_at_70pct_{arrivals}"
        if key in found:
            t = found[key]
            rows.append(
                [f"p99 / p50 at 70% of saturation, {arrivals} arrivals", f"{t['value']:.2f}", f"<= {t['threshold']}", _verdict(t["pass"])]
            )
    if "served_over_raw_cpu" in found:
        t = found["served_over_raw_cpu"]
        per = ", ".join(f"{r:.2f}" for r in t["per_repeat"])
        rows.append(["the same from CPU time per image (robust to other jobs)", f"{t['value']:.2f} (repeats: {per})",
                     f">= {t['threshold']}", _verdict(t["pass"])])  # fmt: skip
    t = found["failed_requests"]
    rows.append(["failed requests, all phases", t["value"], "0", _verdict(t["pass"])])
    for phase in ("sweep", "wide"):
        t = found.get(f"beats_flask_at_8_plus_{phase}")
        if t:
            value = ", ".join(f"{ratio:.2f}x at {users} users" for users, ratio in t["value"].items())
            rows.append([f"TorchServe / Flask baseline throughput, >= 8 users ({t['layout']})", value, "> 1", _verdict(t["pass"])])
    return "### Targets (the CNN)\n\n" + table(["target", "measured", "threshold", "result"], rows)


def _stage_costs(rows: List[dict]) -> str:
    body = table(
        ["model", "image", "MP", "file kB", "decode ms", "preprocess ms", "predict ms", "total ms"],
        [
            [
                r["model"],
                r["image_class"],
                f"{r['megapixels']:.1f}",
                f"{r['file_kb']:.0f}",
                _ms(r["decode_ms"]),
                _ms(r["preprocess_ms"]),
                _ms(r["predict_ms"]),
                _ms(r["total_ms"]),
            ]
            for r in rows
        ],  # fmt: skip
    )
    return (
        "### Where one image's time goes\n\nMedian milliseconds per image on the server core, in-process: `decode` is "
        "`realcheck.imageio.decode_image`; `preprocess` is tensor conversion plus the model's views (CNN, ViT: five "
        "64 px native-resolution crops; FCN: the whole image capped at 2048 px); `predict` is `Detector.predict` on "
        "the decoded image (preprocess + forward + calibration); total = decode + predict.\n\n" + body
    )


def _usage(entry: dict) -> str:
    server = entry["server"]
    return f"{server['frontend_cpu_cores']:.2f} + {server['workers_cpu_cores']:.2f}"


def _rss(entry: dict) -> str:
    server = entry["server"]
    return f"{server['frontend_peak_rss_mib']:.0f} / {server['workers_peak_rss_mib']:.0f}"


def _grid(grid: List[dict]) -> str:
    rows = []
    for entry in grid:
        s, m = entry["settings"], entry["median"]
        name = f"`{entry['config']}`" if entry["label"] == entry["config"] else f"`{entry['label']}` ({entry['config']})"
        rows.append([name, s["workers"], s["batch_size"], s["max_batch_delay"], s["threads"] or "auto",
                     entry["users"], f"{m['rps']:.2f}", _ms(m["p50_ms"]), _ms(m["p95_ms"]), _ms(m["p99_ms"]),
                     f"{entry['failures']}/{entry['requests']}", _usage(entry), f"{m['server_cpu_ms']:.1f}",
                     _rss(entry), f"{m['client_cpu_cores']:.2f}"])  # fmt: skip
    commands = "\n".join(f"- `{e['config']}`: `{e['command']}`" for e in grid)
    header = ["config", "workers", "batch", "delay ms", "threads/worker", "users", "req/s", "p50 ms", "p95 ms", "p99 ms",
              "failed", "server cores (frontend + workers)", "server CPU ms / request", "RSS MiB frontend / workers",
              "Locust cores"]  # fmt: skip
    return (
        "### TorchServe configurations (CNN at saturation)\n\n`default` is the archive as `make models` builds it "
        "(training/archive.py MODEL_CONFIG; threads `auto` = the cores in the worker's CPU affinity `// maxWorkers`). "
        "Each configuration is its own .mar built with training.archive.\n\n" + table(header, rows) + "\n\nReproduce a row:\n\n" + commands
    )


def _versus(versus: dict, raw_ceiling: float = 0.0) -> str:
    """TorchServe against Flask per concurrency (and against the raw ceiling, when there is one)."""
    rows = []
    for users, served in versus["torchserve"].items():
        flask = versus["flask"][users]
        s, f = served["median"], flask["median"]
        ours = served["server"]["frontend_cpu_cores"] + served["server"]["workers_cpu_cores"]
        row = [users, f"{s['rps']:.2f}", _ms(s["p50_ms"]), _ms(s["p99_ms"]), f"{served['failures']}",
               f"{f['rps']:.2f}", _ms(f["p50_ms"]), _ms(f["p99_ms"]), f"{flask['failures']}", f"{s['rps'] / f['rps']:.2f}",
               f"{ours:.2f} / {flask['server']['flask_cpu_cores']:.2f}", f"{s['server_cpu_ms']:.1f} / {f['server_cpu_ms']:.1f}",
               f"{s['client_cpu_cores']:.2f}"]  # fmt: skip
        if raw_ceiling:
            row.append(f"{s['rps'] / raw_ceiling:.2f}")
        rows.append(row)
    header = ["users", "TorchServe req/s", "p50 ms", "p99 ms", "failed", "Flask req/s", "p50 ms", "p99 ms", "failed",
              "TorchServe / Flask", "server cores TorchServe / Flask", "CPU ms / request TorchServe / Flask",
              "Locust cores"]  # fmt: skip
    return table(header + (["TorchServe / raw"] if raw_ceiling else []), rows)


def _raw_key(batch: int) -> str:
    return "batch1" if batch == 1 else "best_batch"


def _sweep(results: dict, report: Path, plots: Path) -> str:
    sweep, raw = results["sweep"], results["raw"]
    raw_ceiling = statistics.median(max(p["batch1"], p["best_batch"]) for p in raw["repeats"])
    scan = ", ".join(f"batch {b}: {rate['images_per_s']:.2f} img/s, {rate['cpu_ms']:.1f} CPU ms" for b, rate in raw["scan"].items())
    batches = sorted({1, raw["best_batch"]})
    rows = []
    # The ratios per repeat as bench.targets computed them.
    ratios = zip(results["targets"]["served_over_raw"]["per_repeat"], results["targets"]["served_over_raw_cpu"]["per_repeat"])
    for i, (p, (ratio, cpu_ratio)) in enumerate(zip(raw["repeats"], ratios, strict=True)):
        rates = [f"{p[_raw_key(b)]:.2f} ({p[_raw_key(b) + '_cpu_ms']:.1f})" for b in batches]
        served = f"{p['served_saturation']:.2f} ({p['served_cpu_ms']:.1f})"
        rows.append([i + 1, *rates, served, f"{ratio:.2f}", f"{cpu_ratio:.2f}"])
    header = ["repeat", *[f"raw batch {b}: img/s (CPU ms/img)" for b in batches], "served at saturation: req/s (CPU ms/req)",
              "served / raw, throughput", "served / raw, CPU time"]  # fmt: skip
    pairs = table(header, rows)
    throughput_png = plot_throughput(results, report, plots)
    cdf_png = plot_cdf(results, report, plots)
    commands = "\n".join(f"- {u} users: `{v['command']}`" for u, v in sweep["torchserve"].items())
    return (
        f"### Concurrency sweep: TorchServe `{sweep['config']}` against the Flask baseline and the raw model\n\n"
        "The Flask baseline (loadtest/baselines/flask_server.py) is the study's serving design: one process, one "
        "thread, one request at a time, hosting the same `realcheck.service` code and TorchScript file. "
        f"The raw ceiling is the in-process throughput with decode and preprocessing (batch scan: {scan}), "
        "measured again before each repeat; the served/raw ratio pairs each repeat with its own raw number. "
        "CPU ms per request counts every server process (frontend and workers, or Flask): unlike req/s it does "
        "not depend on how much of the core other jobs took.\n\n"
        + _versus(sweep, raw_ceiling)
        + "\n\n"
        + pairs
        + f"\n\n![throughput against concurrency]({throughput_png})\n![latency CDF]({cdf_png})"
        + "\n\nReproduce a row:\n\n"
        + commands
    )


def _wide(wide: dict) -> str:
    return (
        f"### Every core: TorchServe `{wide['config']}` against the Flask baseline\n\n"
        f"{wide['layout'][0].upper()}{wide['layout'][1:]}: how the two designs use a whole (small) machine. TorchServe "
        "runs one single-threaded worker per core; Flask handles one request at a time on one thread, so it cannot "
        "use the second core (with torch's default of a thread per core it gets slower, not faster: see the "
        "baseline's docstring). Locust shares a core with the servers here and takes the CPU in the last column "
        "from them.\n\n" + _versus(wide) + f"\n\n    {wide['command']}"
    )


def _paced(paced: dict) -> str:
    rows = []
    for arrivals in ("even", "poisson"):
        entry = paced[arrivals]
        m = entry["median"]
        rows.append([arrivals, f"{m['rps']:.2f}", _ms(m["p50_ms"]), _ms(m["p95_ms"]), _ms(m["p99_ms"]),
                     f"{m['p99_ms'] / m['p50_ms']:.2f}", f"{entry['failures']}/{entry['requests']}"])  # fmt: skip
    text = (
        f"### Tail latency at 70% of saturation ({paced['offered_rps']:.2f} req/s offered)\n\n"
        f"`{paced['config']}`, {paced['users']} users, each starting requests on a schedule rather than after the "
        "previous answer, so the offered load does not drop when the server slows down. `even`: constant gaps, "
        "as Locust's `constant_throughput` (random phase per user). `poisson`: exponential gaps, the bursts real "
        "traffic has.\n\n" + table(["arrivals", "served req/s", "p50 ms", "p95 ms", "p99 ms", "p99 / p50", "failed"], rows)
    )
    reference = paced.get("queueing_reference")
    if reference:
        text += (
            f"\n\nFor scale, queueing alone: a FIFO queue with one server, service times shaped like the 1-user "
            f"latencies, Poisson arrivals at {reference['load']:.0%} utilisation and no cap on its length has "
            f"p99/p50 = {reference['p99_over_p50']:.2f} (loadtest/queueing.py, an M/G/1 simulation). The measured "
            f"run caps the queue at {paced['users']} requests, one per user, which trims the tail a little."
        )
    return text + f"\n\n    {paced['command']}"


def _mix(mix: dict) -> str:
    traffic = mix["traffic"]
    rows = [[f"`{r['name']}`", r["requests"], r["failures"], _ms(r["p50_ms"]), _ms(r["p95_ms"]), _ms(r["p99_ms"])]
            for r in sorted(mix["by_name"], key=lambda r: r["name"])]  # fmt: skip
    weights = ", ".join(f"{m} {w}" for m, w in traffic["model_weights"].items())
    return (
        "### Realistic traffic on the shipped archives\n\n"
        f"All three models from the model store as `make models` builds it, {mix['users']} users for "
        f"{mix['seconds']:g} s, model weights {weights}, image mix `{traffic['images']}`, "
        f"{traffic['explain_rate']:.0%} explanations: {mix['rps']:.2f} req/s, {mix['failures']} of "
        f"{mix['requests']} failed. Percentiles per request kind are Locust's (two significant digits).\n\n"
        + table(["request", "count", "failed", "p50 ms", "p95 ms", "p99 ms"], rows)
        + f"\n\n    {mix['command']}"
    )


# ------------------------------------------------------------------------ plots


def plot_throughput(results: dict, report: Path, plots: Path) -> str:
    """Median req/s against concurrency: one core (with the raw ceiling) and, if measured, every core."""
    panels = [("sweep", results["sweep"])] + ([("wide", results["wide"])] if "wide" in results else [])
    path, link = plot_path(report, plots, "throughput.png")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
    for ax, (phase, versus) in zip(axes[0], panels, strict=True):
        for name, label in (("torchserve", f"TorchServe {versus['config']}"), ("flask", "Flask baseline (one request at a time)")):
            users = [int(u) for u in versus[name]]
            ax.plot(users, [versus[name][str(u)]["median"]["rps"] for u in users], marker="o", label=label)
        if phase == "sweep":
            raw = results["raw"]
            for batch, style in zip(sorted({1, raw["best_batch"]}), (":", "--"), strict=False):
                ax.axhline(statistics.median(p[_raw_key(batch)] for p in raw["repeats"]), linestyle=style, color="grey", label=f"raw in-process, batch {batch}")
        ax.set(xscale="log", xlabel="concurrent users", ylabel="requests / s (median)", title=versus["layout"])
        ax.minorticks_off()
        ax.set_xticks(users, [str(u) for u in users])
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
    fig.suptitle(f"CNN, {results['meta']['args']['images']} photos", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return link


def plot_cdf(results: dict, report: Path, plots: Path) -> str:
    sweep = results["sweep"]
    path, link = plot_path(report, plots, "latency_cdf.png")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharex=True, sharey=True)
    for ax, name, title in ((axes[0], "torchserve", f"TorchServe {sweep['config']}"), (axes[1], "flask", "Flask baseline")):
        for users, entry in sweep[name].items():
            if entry["cdf_ms"]:
                ax.plot(entry["cdf_ms"], [p / 100 for p in CDF_POINTS], label=f"{users} users")
        ax.set(xscale="log", xlabel="response time (ms)", title=title)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of requests")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return link


def plot_timeline(series: Dict[str, List[float]], events: List[tuple[float, str]], path: Path) -> None:
    """Throughput and p50 per time bucket, with the scaling calls marked (scale demo)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    top.plot(series["t"], series["rps"], drawstyle="steps-post")
    bottom.plot(series["t"], series["p50_ms"], drawstyle="steps-post", label="p50")
    bottom.plot(series["t"], series["p99_ms"], drawstyle="steps-post", label="p99")
    for ax in (top, bottom):
        for t, label in events:
            ax.axvline(t, color="grey", linestyle="--")
            if ax is top:
                ax.annotate(label, (t, 0), xytext=(3, 3), textcoords="offset points", fontsize=8, rotation=90)
    top.set(ylabel="requests / s")
    top.set_ylim(bottom=0)
    bottom.set(xlabel="seconds since start", ylabel="ms", yscale="log")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
