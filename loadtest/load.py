"""One headless Locust run against a target, as a subprocess on the client cores.

Locust runs as its own process (the ``locust`` command, so each run has a
command line anyone can paste), with ``--reset-stats`` so the ramp-up is not
counted. Requests/s and failures come from its CSV; latency percentiles come
from every response time (loadtest/locustfile.py ``--latency-file``), because
Locust's own percentiles are rounded to two significant digits.
"""

from __future__ import annotations

import csv
import dataclasses
import shlex
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Set

import numpy as np

from realcheck.spec import MODEL_NAMES

from .servers import ROOT, Target, Usage, UsageMonitor, cpu_list, pinned

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"


@dataclasses.dataclass(frozen=True)
class Traffic:
    """What the users send: image classes and weights, models and weights, explanation rate, pacing."""

    images: str
    model_weights: Dict[str, int]
    explain_rate: float = 0.0
    rate_per_user: float = 0.0  # 0: back to back
    arrivals: str = "poisson"  # with rate_per_user: "poisson" or "even"

    def arguments(self) -> List[str]:
        args = ["--images", self.images, "--explain-rate", str(self.explain_rate)]
        for model in MODEL_NAMES:
            args += [f"--{model}-weight", str(self.model_weights.get(model, 0))]
        if self.rate_per_user:
            args += ["--rate-per-user", f"{self.rate_per_user:.4f}", "--arrivals", self.arrivals]
        return args


class Completion(NamedTuple):
    """One response: when it completed (epoch s), how long it took (ms), whether it was right."""

    t: float
    ms: float
    ok: bool


@dataclasses.dataclass
class RunResult:
    users: int
    seconds: float
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    command: str
    timeline: List[Completion] = dataclasses.field(repr=False, default_factory=list)  # for CDFs and time series
    server_usage: Optional[Usage] = None
    client_cpu_cores: float = 0.0
    failure_samples: List[str] = dataclasses.field(default_factory=list)
    # One row per Locust request name ("predictions/cnn medium-jpeg"): count, failures, percentiles.
    by_name: List[dict] = dataclasses.field(default_factory=list)

    @property
    def latencies_ms(self) -> List[float]:
        return [c.ms for c in self.timeline]

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    @property
    def server_cpu_ms(self) -> float:
        """Server CPU time per request, all its processes: what throughput would be on an idle core."""
        if not self.server_usage or not self.rps:
            return float("nan")
        return 1e3 * sum(self.server_usage.cpu_cores.values()) / self.rps

    def summary(self) -> dict:
        """The JSON-friendly numbers (no per-request lists)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("timeline", "server_usage")}
        data["error_rate"] = self.error_rate
        data["server_cpu_ms"] = self.server_cpu_ms
        data["server_usage"] = dataclasses.asdict(self.server_usage) if self.server_usage else None
        return data


def locust_command(target: Target, traffic: Traffic, users: int, seconds: float, corpus: Path, prefix: Path) -> List[str]:
    return [
        str(Path(sys.executable).parent / "locust"), "-f", str(LOCUSTFILE.relative_to(ROOT)),
        "--headless", "--only-summary", "--reset-stats", "--loglevel", "WARNING",
        "-u", str(users), "-r", str(users), "-t", f"{seconds:g}s", "--stop-timeout", "30",
        "--host", target.url, "--key-file", str(target.key_file), "--corpus", str(corpus),
        "--csv", str(prefix), "--latency-file", f"{prefix}_latency.csv",
        *traffic.arguments(),
    ]  # fmt: skip


def run(
    target: Target,
    traffic: Traffic,
    users: int,
    seconds: float,
    corpus: Path,
    prefix: Path,
    client_cpus: Set[int],
    stop: Optional[threading.Event] = None,
) -> RunResult:
    """Drive ``target`` with ``users`` concurrent users for ``seconds`` (after ramp-up) and measure.

    Setting ``stop`` ends the run early; Locust stops gracefully on SIGTERM and still writes its results.
    """
    prefix.parent.mkdir(parents=True, exist_ok=True)
    command = locust_command(target, traffic, users, seconds, corpus, prefix)
    with pinned(client_cpus):
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with UsageMonitor([target.pid]) as server, UsageMonitor([process.pid]) as client:
        while stop is not None and process.poll() is None and not stop.wait(0.2):
            pass
        if process.poll() is None and stop is not None:
            process.terminate()
        output, _ = process.communicate()
    if process.returncode not in (0, 1):  # 1 = some requests failed, which the result reports
        raise RuntimeError(f"locust exited with {process.returncode}:\n{output[-3000:]}")
    window, timeline = _read_latency_file(Path(f"{prefix}_latency.csv"))
    result = _read_results(prefix, users, seconds, shlex.join(["taskset", "-c", cpu_list(client_cpus), *command]), timeline)
    result.server_usage = server.usage(*window)
    result.client_cpu_cores = sum(client.usage(*window).cpu_cores.values())
    return result


def _read_results(prefix: Path, users: int, seconds: float, command: str, timeline: List[Completion]) -> RunResult:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    aggregated = next(row for row in rows if row["Name"] == "Aggregated")
    latencies = [c.ms for c in timeline]
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) if latencies else (float("nan"),) * 3
    return RunResult(
        users=users,
        seconds=seconds,
        requests=int(aggregated["Request Count"]),
        failures=int(aggregated["Failure Count"]),
        rps=float(aggregated["Requests/s"]),
        p50_ms=float(p50),
        p95_ms=float(p95),
        p99_ms=float(p99),
        command=command,
        timeline=timeline,
        failure_samples=_failure_samples(prefix),
        by_name=[_name_stats(row) for row in rows if row["Name"] != "Aggregated"],
    )


def _name_stats(row: Dict[str, str]) -> dict:
    return {
        "name": row["Name"],
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        **{f"p{p}_ms": float(row[f"{p}%"]) for p in (50, 95, 99)},
    }


def _read_latency_file(path: Path) -> tuple[tuple[float, float], List[Completion]]:
    """The measured window (start, stop) and the responses the locustfile wrote."""
    header, *rows = path.read_text().splitlines()
    _, start, stop = header.split(",")
    completions = [Completion(float(t), float(ms), ok == "1") for t, ms, ok in (row.split(",") for row in rows)]
    return (float(start), float(stop)), completions


def _failure_samples(prefix: Path, limit: int = 5) -> List[str]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [f"{row['Occurrences']}x {row['Name']}: {row['Error']}" for row in csv.DictReader(handle)][:limit]


# Percentiles kept per series, enough to draw a latency CDF from results.json alone.
CDF_POINTS: List[float] = [*range(0, 100), 99.5, 99.9, 100]


def cdf(latencies_ms: Sequence[float]) -> List[float]:
    return [float(v) for v in np.percentile(latencies_ms, CDF_POINTS)] if len(latencies_ms) else []
