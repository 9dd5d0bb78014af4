"""``make bench``: how fast realcheck serves, against the model alone and a naive Flask server.

    python -m loadtest.bench --runs build/demo --model-store model_store --report BENCHMARKS.md

One run measures, on the same cores and the same photos:

1. costs: decode, preprocessing and prediction per image class and model;
2. grid: TorchServe configurations of the CNN (workers x batch size x batch
   delay x torch threads per worker x frontend logging, each its own .mar) at
   a saturating concurrency; the fastest one goes on;
3. sweep: that configuration and the Flask baseline at each concurrency, with
   the raw in-process throughput measured again before each repeat, so every
   served/raw ratio pairs numbers taken a minute apart;
4. paced: that configuration at 70% of its saturation throughput, Poisson and even arrivals;
5. wide: TorchServe and Flask given every core (Locust then shares one), as deployed;
6. mix: the shipped archives (all three models) under the realistic traffic mix.

Results go to ``<out>/results.json``; ``--report`` regenerates the bench
section of BENCHMARKS.md and the plots next to it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import re
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

from realcheck import spec
from serving import launcher
from training import archive
from training.export import git_commit

from . import images, load, queueing, raw, report, servers
from .load import RunResult, Traffic
from .servers import CpuLayout, Target, cpu_list

MODEL = "cnn"  # the targets are set on the demo CNN
PHASES = ("costs", "grid", "sweep", "paced", "wide", "mix")
DEFAULT_CONFIGS = "default,w1-b1-d0-t1,w1-b1-d0-t1-quiet,w1-b4-d5-t1-quiet,w2-b1-d0-t1-quiet"
# `make bench-smoke` (CI): every phase, minimal durations, on whatever models --runs holds.
SMOKE = {
    "configs": "w1-b1-d0-t1-quiet", "users": [1, 8], "grid_users": 4, "seconds": 3, "warmup": 3, "repeats": 1,
    "raw_seconds": 1, "raw_batches": [1, 2], "cost_models": "cnn", "cost_repeats": 1, "paced_users": 4,
    "wide_users": [8], "mix_users": 3, "mix_seconds": 5,
}  # fmt: skip
TARGET_RATIO = 0.85
TARGET_TAIL = 3.0
PACED_LOAD = 0.7


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """One TorchServe setting of the CNN; ``threads`` 0 keeps the handler's default (cores // workers)."""

    workers: int
    batch_size: int
    max_batch_delay: int
    threads: int
    quiet_logs: bool = False  # the frontend logs through serving/log4j2.xml, as `make serve` ships it

    @property
    def name(self) -> str:
        name = f"w{self.workers}-b{self.batch_size}-d{self.max_batch_delay}-t{self.threads or 'auto'}"
        return name + ("-quiet" if self.quiet_logs else "")

    @classmethod
    def parse(cls, name: str) -> "ServeConfig":
        """``default`` (archive.MODEL_CONFIG and the logging `make serve` ships) or ``w2-b4-d5-t1[-quiet]``."""
        if name == "default":
            shipped = archive.model_config(MODEL)
            return cls(shipped["maxWorkers"], shipped["batchSize"], shipped["maxBatchDelay"], 0, quiet_logs=True)
        match = re.fullmatch(r"w(\d+)-b(\d+)-d(\d+)-t(\d+|auto)(-quiet)?", name)
        if not match:
            raise ValueError(f"bad configuration {name!r}: expected default or w<workers>-b<batch>-d<delay ms>-t<threads|auto>[-quiet]")
        workers, batch, delay, threads, quiet = match.groups()
        return cls(int(workers), int(batch), int(delay), 0 if threads == "auto" else int(threads), bool(quiet))

    def model_config(self) -> dict:
        return archive.model_config(
            MODEL,
            batch_size=self.batch_size,
            workers=self.workers,
            max_batch_delay=self.max_batch_delay,
            threads_per_worker=self.threads or None,
        )

    def server_overrides(self) -> Dict[str, str]:
        return launcher.quiet_logs() if self.quiet_logs else {}

    def users_to_saturate(self, floor: int) -> int:
        """Enough outstanding requests to keep every worker's batch full."""
        return max(floor, 2 * self.workers * self.batch_size)


def build_store(runs: Path, out: Path, config: ServeConfig) -> Path:
    """A model store with the CNN archived as ``config`` (training.archive does the packaging)."""
    store, staging = out / "stores" / config.name, out / "staging"
    shutil.rmtree(store, ignore_errors=True)
    try:
        archive.build_archive(MODEL, runs / MODEL, store, config.model_config(), staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return store


@dataclasses.dataclass
class Series:
    """Repeated runs of one setting; tables quote medians."""

    runs: List[RunResult] = dataclasses.field(default_factory=list)

    def median(self, field: str) -> float:
        return _median([getattr(run, field) for run in self.runs])

    def usage(self, kind: str, role: str) -> float:
        return _median([getattr(run.server_usage, kind).get(role, 0.0) for run in self.runs if run.server_usage])

    def latencies(self) -> List[float]:
        return [ms for run in self.runs for ms in run.latencies_ms]

    def summary(self) -> dict:
        return {
            "median": {f: self.median(f) for f in ("rps", "p50_ms", "p95_ms", "p99_ms", "server_cpu_ms", "client_cpu_cores")},
            "failures": sum(run.failures for run in self.runs),
            "requests": sum(run.requests for run in self.runs),
            "cdf_ms": load.cdf(self.latencies()),
            "server": {
                f"{role}_{kind}": self.usage(kind, role)
                for role in ("frontend", "workers", "flask")
                for kind in ("cpu_cores", "peak_rss_mib")
            },
            "runs": [run.summary() for run in self.runs],
        }


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        # One core each, for the ratio: the server side never shares with Locust.
        self.layout = CpuLayout.from_flags(args.server_cpus, args.client_cpus) or CpuLayout.split()
        self.wide = self.layout.widened()
        self.out: Path = args.out
        self.corpus = images.build(args.corpus)
        self.traffic = Traffic(images=args.images, model_weights={MODEL: 1})
        self.results: dict = {}

    # ------------------------------------------------------------------ helpers

    def drive(
        self,
        target: Target,
        users: int,
        label: str,
        traffic: Optional[Traffic] = None,
        seconds: float = 0,
        layout: Optional[CpuLayout] = None,
    ) -> RunResult:
        prefix = self.out / "locust" / f"{label.replace(' ', '_')}-u{users}-{time.strftime('%H%M%S')}"
        client = (layout or self.layout).client
        result = load.run(target, traffic or self.traffic, users, seconds or self.args.seconds, self.args.corpus, prefix, client)
        print(f"  {label:<30} u={users:<3} {result.rps:7.2f} req/s  p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms  "
              f"failed {result.failures}/{result.requests}  Locust CPU {result.client_cpu_cores:.2f}", flush=True)  # fmt: skip
        for sample in result.failure_samples:
            print(f"    {sample}")
        return result

    @contextlib.contextmanager
    def serve(self, config: ServeConfig, users: int, phase: str, layout: Optional[CpuLayout] = None) -> Iterator[Target]:
        """TorchServe with the CNN archived as ``config``, warmed up at ``users``.

        The warm-up is long because the frontend's JVM compiles its hot paths
        during the first ~20 s of load; until then it spends 2-3x the CPU per request.
        """
        layout = layout or self.layout
        store = build_store(self.args.runs, self.out, config)
        workdir = self.out / "servers" / f"{phase}-{config.name}"  # a fresh one: TorchServe refuses a live pid file
        with servers.torchserve(store, workdir, [MODEL], layout.server, config.server_overrides()) as target:
            self.drive(target, users, f"warm-up {config.name}", seconds=self.args.warmup, layout=layout)
            yield target

    @contextlib.contextmanager
    def flask(self, phase: str, layout: CpuLayout) -> Iterator[Target]:
        with servers.flask_baseline(self.args.runs / MODEL, self.out / "servers" / f"{phase}-flask", layout.server) as target:
            # No JVM to warm up: a few seconds compile the TorchScript graphs.
            self.drive(target, 1, "warm-up flask", seconds=min(self.args.warmup, 5), layout=layout)
            yield target

    def compare(
        self, served: Target, baseline: Target, levels: List[int], layout: CpuLayout, label: str, before_repeat: Callable[[int], None]
    ) -> tuple[Dict[int, Series], Dict[int, Series]]:
        """TorchServe and the Flask baseline at each concurrency, ``--repeats`` times, interleaved."""
        ours = {users: Series() for users in levels}
        theirs = {users: Series() for users in levels}
        for repeat in range(self.args.repeats):
            before_repeat(repeat)
            for users in levels:
                ours[users].runs.append(self.drive(served, users, f"torchserve {label}", layout=layout))
            for users in levels:
                theirs[users].runs.append(self.drive(baseline, users, "flask baseline", layout=layout))
        return ours, theirs

    def bench_command(self, **overrides: str) -> str:
        """The command that reproduces one table row: this run's settings with ``overrides``."""
        args = {
            "--runs": str(self.args.runs), "--images": self.args.images, "--seconds": f"{self.args.seconds:g}",
            "--warmup": f"{self.args.warmup:g}", "--repeats": str(self.args.repeats),
            "--server-cpus": cpu_list(self.layout.server), "--client-cpus": cpu_list(self.layout.client), **overrides,
        }  # fmt: skip
        return shlex.join([".venv/bin/python", "-m", "loadtest.bench", *[x for item in args.items() for x in item]])

    # ------------------------------------------------------------------- phases

    def measure_costs(self) -> None:
        print("stage costs (ms per image, median)", flush=True)
        rows = []
        for model in self.args.cost_models.split(","):
            detector = raw.load_service(self.args.runs / model).detector
            for image in [i for i in self.corpus if i.path.stem.endswith("-0")]:
                costs = raw.stage_costs(detector, image.path.read_bytes(), self.args.cost_repeats, self.layout.server)
                print(f"  {model} {image.image_class:<12} decode {costs.decode_ms:7.1f}  preprocess {costs.preprocess_ms:7.1f}  "
                      f"predict {costs.predict_ms:7.1f}", flush=True)  # fmt: skip
                size = {"megapixels": image.megapixels, "file_kb": image.path.stat().st_size / 1e3}
                rows.append(
                    {"model": model, "image_class": image.image_class, **size, **dataclasses.asdict(costs), "total_ms": costs.total_ms}
                )
        self.results["costs"] = rows

    def run_grid(self, labels: List[str]) -> ServeConfig:
        print(f"grid at saturation ({self.layout.describe()})", flush=True)
        entries = []
        for label in labels:
            config = ServeConfig.parse(label)
            users = config.users_to_saturate(self.args.grid_users)
            with self.serve(config, users, "grid") as target:
                series = Series(runs=[self.drive(target, users, config.name) for _ in range(self.args.repeats)])
            command = self.bench_command(**{"--only": "grid", "--configs": config.name, "--grid-users": str(self.args.grid_users)})
            settings = dataclasses.asdict(config)
            entries.append(
                {"config": config.name, "label": label, "settings": settings, "users": users, **series.summary(), "command": command}
            )
        self.results["grid"] = entries
        best = max(entries, key=lambda entry: entry["median"]["rps"])
        print(f"  fastest: {best['config']}", flush=True)
        return ServeConfig.parse(best["config"])

    def run_sweep(self, config: ServeConfig, target: Target) -> None:
        """``target`` and the Flask baseline at each concurrency; raw in-process before each repeat."""
        service = raw.load_service(self.args.runs / MODEL)
        chosen = images.select(self.corpus, self.args.images)
        stream = raw.request_stream([image.path.read_bytes() for image, _ in chosen], [weight for _, weight in chosen])
        scan = {b: raw.throughput(service, stream, b, self.args.raw_seconds, self.layout.server) for b in self.args.raw_batches}
        best_batch = max(scan, key=lambda b: scan[b].images_per_s)
        print("raw batch scan: " + _rates(scan), flush=True)
        raws: List[Dict[int, raw.RawRate]] = []

        def measure_raw(repeat: int) -> None:
            raws.append({b: raw.throughput(service, stream, b, self.args.raw_seconds, self.layout.server) for b in sorted({1, best_batch})})
            print(f"repeat {repeat + 1}: raw " + _rates(raws[-1]), flush=True)

        levels = self.args.users
        with self.flask("sweep", self.layout) as baseline:
            served, flask = self.compare(target, baseline, levels, self.layout, config.name, measure_raw)
        pairs = []
        for repeat, rates in enumerate(raws):
            saturated = max((served[u].runs[repeat] for u in levels), key=lambda run: run.rps)
            pairs.append({"batch1": rates[1].images_per_s, "best_batch": rates[best_batch].images_per_s,
                          "batch1_cpu_ms": rates[1].cpu_ms, "best_batch_cpu_ms": rates[best_batch].cpu_ms,
                          "served_saturation": saturated.rps, "served_cpu_ms": saturated.server_cpu_ms})  # fmt: skip
        scan_summary = {b: dataclasses.asdict(rate) for b, rate in scan.items()}
        self.results["raw"] = {"images": self.args.images, "scan": scan_summary, "best_batch": best_batch, "repeats": pairs}
        self.results["sweep"] = {
            "config": config.name,
            "layout": self.layout.describe(),
            "torchserve": {
                str(u): {**s.summary(), "command": self.bench_command(**{"--only": "sweep", "--configs": config.name, "--users": str(u)})}
                for u, s in served.items()
            },
            "flask": {str(u): s.summary() for u, s in flask.items()},
            "single_user_latencies_ms": served[min(levels)].latencies(),
        }

    def run_paced(self, config: ServeConfig, target: Target) -> None:
        """Offered load at PACED_LOAD x saturation, arrivals Poisson and even: the tail where a service should run."""
        sweep = self.results.get("sweep")
        saturation = max(level["median"]["rps"] for level in sweep["torchserve"].values()) if sweep else self.args.paced_rps
        if not saturation:
            raise SystemExit("--only paced needs --paced-rps (the saturation throughput) when the sweep does not run")
        users = self.args.paced_users
        offered = PACED_LOAD * saturation
        print(f"paced: {offered:.2f} req/s offered ({PACED_LOAD:.0%} of {saturation:.2f})", flush=True)
        command = self.bench_command(**{"--only": "paced", "--configs": config.name, "--paced-rps": f"{saturation:.2f}"})
        paced = {"config": config.name, "offered_rps": offered, "load": PACED_LOAD, "users": users, "command": command}
        for arrivals in ("poisson", "even"):
            traffic = dataclasses.replace(self.traffic, rate_per_user=offered / users, arrivals=arrivals)
            series = Series(runs=[self.drive(target, users, f"paced {arrivals}", traffic) for _ in range(self.args.repeats)])
            paced[arrivals] = series.summary()
        if sweep:
            paced["queueing_reference"] = queueing.reference_tail(sweep["single_user_latencies_ms"], PACED_LOAD)
        self.results["paced"] = paced

    def run_wide(self) -> None:
        """Both servers on every core: TorchServe with one single-threaded worker per core against Flask."""
        config = ServeConfig.parse(self.args.wide_config or f"w{len(self.wide.server)}-b1-d0-t1-quiet")
        levels = self.args.wide_users
        print(f"every core: {config.name} against Flask ({self.wide.describe()})", flush=True)
        with self.serve(config, max(levels), "wide", self.wide) as target, self.flask("wide", self.wide) as baseline:
            served, flask = self.compare(target, baseline, levels, self.wide, config.name, lambda repeat: None)
        command = self.bench_command(**{"--only": "wide", "--wide-config": config.name, "--wide-users": ",".join(map(str, levels))})
        self.results["wide"] = {
            "config": config.name,
            "layout": self.wide.describe(),
            "torchserve": {str(u): s.summary() for u, s in served.items()},
            "flask": {str(u): s.summary() for u, s in flask.items()},
            "command": command,
        }

    def run_mix(self) -> None:
        """The shipped archives, all three models, the realistic image mix and some explanations."""
        traffic = Traffic(images=images.DEFAULT_MIX, model_weights=self.args.mix_weights, explain_rate=self.args.explain_rate)
        print("realistic mix on the shipped archives", flush=True)
        workdir = self.out / "servers" / "mix"
        with servers.torchserve(self.args.model_store, workdir, list(spec.MODEL_NAMES), self.layout.server) as target:
            self.drive(target, self.args.mix_users, "warm-up mix", traffic, seconds=self.args.warmup)
            result = self.drive(target, self.args.mix_users, "mix", traffic, seconds=self.args.mix_seconds)
        command = self.bench_command(**{"--only": "mix", "--model-store": str(self.args.model_store)})
        self.results["mix"] = {"traffic": dataclasses.asdict(traffic), "users": self.args.mix_users, **result.summary(), "command": command}

    # -------------------------------------------------------------------- main

    def run(self) -> dict:
        started = time.monotonic()
        os.sched_setaffinity(0, self.layout.client)  # the bench process itself stays off the server cores
        self.results["meta"] = _machine(self.layout, self.args)
        phases = set(self.args.only.split(",")) if self.args.only else set(PHASES)
        labels = self.args.configs.split(",")
        if "costs" in phases:
            self.measure_costs()
        best = self.run_grid(labels) if "grid" in phases else ServeConfig.parse(labels[0])
        if phases & {"sweep", "paced"}:
            with self.serve(best, max(self.args.users), "sweep") as target:
                if "sweep" in phases:
                    self.run_sweep(best, target)
                if "paced" in phases:
                    self.run_paced(best, target)
        if "wide" in phases:
            self.run_wide()
        if "mix" in phases:
            self.run_mix()
        self.results["targets"] = targets(self.results)
        self.results["meta"].update(wall_s=time.monotonic() - started, load_after=os.getloadavg())
        return self.results


def targets(results: dict) -> dict:
    """Issue 4's targets, from whichever phases ran: value, threshold, pass."""
    found: dict = {}
    pairs = results.get("raw", {}).get("repeats", [])
    if pairs:
        ratios = [p["served_saturation"] / max(p["batch1"], p["best_batch"]) for p in pairs]
        found["served_over_raw"] = {"value": _median(ratios), "threshold": TARGET_RATIO, "per_repeat": ratios,
                                    "pass": _median(ratios) >= TARGET_RATIO}  # fmt: skip
        # The same ratio from CPU time per image: what it would be on idle cores, whoever else ran.
        costs = [min(p["batch1_cpu_ms"], p["best_batch_cpu_ms"]) / p["served_cpu_ms"] for p in pairs]
        found["served_over_raw_cpu"] = {"value": _median(costs), "threshold": TARGET_RATIO, "per_repeat": costs,
                                        "pass": _median(costs) >= TARGET_RATIO}  # fmt: skip
    if "paced" in results:
        for arrivals in ("even", "poisson"):
            median = results["paced"][arrivals]["median"]
            tail = median["p99_ms"] / median["p50_ms"]
            found[f"p99_over_p50_at_70pct_{arrivals}"] = {"value": tail, "threshold": TARGET_TAIL, "pass": tail <= TARGET_TAIL}
    failures = sum(_failures(results[phase]) for phase in ("grid", "sweep", "paced", "wide", "mix") if phase in results)
    found["failed_requests"] = {"value": failures, "threshold": 0, "pass": failures == 0}
    for phase in ("sweep", "wide"):
        if phase in results:
            versus = results[phase]
            wins = {
                u: versus["torchserve"][u]["median"]["rps"] / versus["flask"][u]["median"]["rps"] for u in versus["flask"] if int(u) >= 8
            }
            if wins:
                found[f"beats_flask_at_8_plus_{phase}"] = {"value": wins, "threshold": 1.0, "layout": versus["layout"],
                                                           "pass": all(v > 1.0 for v in wins.values())}  # fmt: skip
    return found


def _failures(phase) -> int:
    if isinstance(phase, list):  # grid
        return sum(entry["failures"] for entry in phase)
    if "failures" in phase:  # mix
        return phase["failures"]
    if "poisson" in phase:  # paced
        return phase["poisson"]["failures"] + phase["even"]["failures"]
    return sum(level["failures"] for server in ("torchserve", "flask") for level in phase[server].values())  # sweep, wide


def _rates(rates: Dict[int, raw.RawRate]) -> str:
    return ", ".join(f"batch {b} {rate.images_per_s:.2f} img/s ({rate.cpu_ms:.1f} CPU ms/img)" for b, rate in rates.items())


def _median(values: List[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _machine(layout: CpuLayout, args: argparse.Namespace) -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "cpu": next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown"),
        "cpus": os.cpu_count(),
        "memory_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
        "layout": layout.describe(),
        "load_before": os.getloadavg(),
        "command": shlex.join([".venv/bin/python", "-m", "loadtest.bench", *sys.argv[1:]]),
        "args": {k: str(v) for k, v in vars(args).items()},
    }


def int_list(text: str) -> List[int]:
    return [int(x) for x in text.split(",") if x]


def _weights(text: str) -> Dict[str, int]:
    return {name: int(weight) for name, weight in (item.split(":") for item in text.split(","))}


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=Path, default=Path("build/demo"), help="run folder with <model>/model.pt and calibration.json")
    parser.add_argument("--model-store", type=Path, default=Path("model_store"), help="the shipped archives (mix phase)")
    parser.add_argument("--out", type=Path, default=Path("build/bench"))
    parser.add_argument("--corpus", type=Path, default=Path("build/loadtest/corpus"))
    parser.add_argument("--only", default="", help=f"comma list of phases: {','.join(PHASES)} (default: all)")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="TorchServe configurations for the grid")
    parser.add_argument(
        "--images", default="medium-jpeg", help="image classes for grid, sweep and paced (one size: the ratio compares like with like)"
    )
    parser.add_argument("--users", type=int_list, default=[1, 2, 4, 8, 16], help="concurrency levels of the sweep")
    parser.add_argument("--grid-users", type=int, default=8, help="concurrency of the grid (raised to 2 x workers x batch)")
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per Locust run")
    parser.add_argument("--warmup", type=float, default=20, help="seconds of unmeasured load after each TorchServe start")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--raw-seconds", type=float, default=4)
    parser.add_argument("--raw-batches", type=int_list, default=[1, 2, 4, 8])
    parser.add_argument("--cost-models", default="cnn,fcn,vit")
    parser.add_argument("--cost-repeats", type=int, default=3)
    parser.add_argument("--paced-users", type=int, default=32, help="users of the paced runs: many, so arrivals stay nearly open-loop")
    parser.add_argument("--paced-rps", type=float, default=0, help="saturation req/s, for --only paced without the sweep")
    parser.add_argument("--wide-config", default="", help="TorchServe configuration on every core (default: w<cores>-b1-d0-t1-quiet)")
    parser.add_argument("--wide-users", type=int_list, default=[1, 8, 16], help="concurrency levels on every core")
    parser.add_argument("--mix-weights", type=_weights, default={"cnn": 3, "fcn": 1, "vit": 2})
    parser.add_argument("--mix-users", type=int, default=6)
    parser.add_argument("--mix-seconds", type=float, default=30)
    parser.add_argument("--explain-rate", type=float, default=0.02)
    parser.add_argument("--server-cpus", default="", help="taskset list for the servers (default: all but the last CPU)")
    parser.add_argument("--client-cpus", default="", help="taskset list for Locust (default: the last CPU)")
    parser.add_argument("--smoke", action="store_true", help=f"a 1-2 minute run for CI: sets {', '.join(SMOKE)}")
    parser.add_argument("--report", type=Path, help="regenerate the bench section of this Markdown file and its plots")
    parser.add_argument("--plots", type=Path, default=report.PLOTS, help="where --report puts its PNG files")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.smoke:
        vars(args).update(SMOKE)
    results = Bench(args).run()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results["targets"], indent=1))
    print(f"wrote {args.out / 'results.json'} in {results['meta']['wall_s']:.0f} s")
    if args.report:
        report.write(results, args.report, args.plots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
