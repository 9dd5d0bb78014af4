"""The servers under test, pinned to their cores, and what their processes use.

On a small machine the load generator competes with the server for the same
cores, and the benchmark then measures the contention. So every server here
(TorchServe through serving.launcher, the Flask baseline) starts with its CPU
affinity set to ``server`` cores, which every process and thread it forks
inherits, and Locust runs on the remaining ``client`` cores.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Set

import psutil
import requests

from serving import launcher

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class CpuLayout:
    server: Set[int]
    client: Set[int]

    @classmethod
    def split(cls, cpus: Optional[Set[int]] = None) -> "CpuLayout":
        """The last core for the load generator, the others for the server (one core: shared)."""
        cpus = sorted(cpus or os.sched_getaffinity(0))
        if len(cpus) == 1:
            return cls(set(cpus), set(cpus))
        return cls(set(cpus[:-1]), {cpus[-1]})

    @classmethod
    def from_flags(cls, server: str, client: str) -> Optional["CpuLayout"]:
        """``--server-cpus`` and ``--client-cpus`` (taskset lists), or None when neither is given."""
        if bool(server) != bool(client):
            raise ValueError("--server-cpus and --client-cpus go together")
        return cls(_cpu_set(server), _cpu_set(client)) if server else None

    def widened(self) -> "CpuLayout":
        """Every core for the server, as a deployment would run; the load generator shares its own."""
        return CpuLayout(self.server | self.client, self.client)

    def describe(self) -> str:
        return f"server on CPU {cpu_list(self.server)}, load generator on CPU {cpu_list(self.client)}"


def _cpu_set(text: str) -> Set[int]:
    """``"0-2,5"`` -> ``{0, 1, 2, 5}`` (taskset's list syntax)."""
    cpus: Set[int] = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def cpu_list(cpus: Set[int]) -> str:
    """``{0, 1, 5}`` -> ``"0,1,5"``, for taskset and the commands the reports print."""
    return ",".join(str(cpu) for cpu in sorted(cpus))


@contextlib.contextmanager
def pinned(cpus: Set[int]) -> Iterator[None]:
    """Run the block (and every process it starts) on ``cpus`` only.

    Affinity is inherited at fork and thread creation, so a server started
    inside the block, and every worker it forks later, stays on these cores.
    """
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# --------------------------------------------------------------------------- usage


@dataclasses.dataclass
class Usage:
    """CPU (cores busy on average) and peak resident memory (MiB), per process role."""

    cpu_cores: Dict[str, float]
    peak_rss_mib: Dict[str, float]


def _role(process: psutil.Process) -> str:
    try:
        cmdline = " ".join(process.cmdline())
    except psutil.Error:
        return "gone"
    if "model_service_worker" in cmdline:
        return "workers"
    if "java" in process.name() or "org.pytorch.serve" in cmdline:
        return "frontend"
    if "flask_server" in cmdline:
        return "flask"
    if "locust" in cmdline:
        return "locust"
    return "launcher"  # the idle `torchserve --foreground` wrapper


class UsageMonitor:
    """Samples a process tree's CPU time and RSS while a block runs (daemon thread, every 0.5 s).

    ``usage(start, end)`` gives CPU as busy time over wall time between the
    samples inside that window (1.0 = one core fully used), so a caller can
    leave out start-up and ramp-up; RSS is summed per role (frontend, workers,
    ...) and its peak kept. A process that exits mid-run drops out of the sums.
    """

    def __init__(self, roots: Sequence[int], interval: float = 0.5):
        self.roots = list(roots)
        self.interval = interval
        self._first_busy: Dict[int, float] = {}
        # (time, busy seconds per role since each process was first seen)
        self._samples: List[tuple[float, Dict[str, float]]] = []
        self._peak: Dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _processes(self) -> List[psutil.Process]:
        found = []
        for pid in self.roots:
            try:
                root = psutil.Process(pid)
                found += [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
        return found

    def _sample(self) -> None:
        now = time.time()
        busy: Dict[str, float] = {}
        rss: Dict[str, float] = {}
        for process in self._processes():
            try:
                role = _role(process)
                times = process.cpu_times()
                memory = process.memory_info().rss / 2**20
            except psutil.Error:
                continue
            total = times.user + times.system
            busy[role] = busy.get(role, 0.0) + total - self._first_busy.setdefault(process.pid, total)
            rss[role] = rss.get(role, 0.0) + memory
        self._samples.append((now, busy))
        for role, mib in rss.items():
            self._peak[role] = max(self._peak.get(role, 0.0), mib)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "UsageMonitor":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def usage(self, start: float = 0.0, end: float = float("inf")) -> Usage:
        """Cores busy per role between the first and last samples in [start, end] (epoch seconds)."""
        inside = [sample for sample in self._samples if start <= sample[0] <= end]
        if len(inside) < 2:
            inside = [self._samples[0], self._samples[-1]]
        (t0, busy0), (t1, busy1) = inside[0], inside[-1]
        wall = max(t1 - t0, 1e-9)
        return Usage({role: (busy1[role] - busy0.get(role, 0.0)) / wall for role in busy1}, dict(self._peak))


# --------------------------------------------------------------------------- servers


@dataclasses.dataclass
class Target:
    """A running server the load generator can hit: where, with which key file, and its process."""

    url: str
    key_file: Path
    pid: int
    torchserve: Optional[launcher.Server] = None


@contextlib.contextmanager
def torchserve(
    model_store: Path, workdir: Path, models: Sequence[str], cpus: Set[int], overrides: Optional[Mapping[str, str]] = None
) -> Iterator[Target]:
    """TorchServe via serving.launcher on free loopback ports, pinned to ``cpus``; ``overrides`` go into config.properties."""
    with pinned(cpus):
        server = launcher.start(model_store, workdir, models=models, overrides={**launcher.isolated_ports(), **(overrides or {})})
    try:
        yield Target(server.inference_url, server.workdir / launcher.KEY_FILE, server.process.pid, server)
    finally:
        launcher.stop(server)


@contextlib.contextmanager
def flask_baseline(model_dir: Path, workdir: Path, cpus: Set[int], timeout: float = 120.0) -> Iterator[Target]:
    """The single-threaded Flask baseline (loadtest/baselines/flask_server.py), pinned to ``cpus``."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = launcher.free_port()
    command = [
        sys.executable, "-m", "loadtest.baselines.flask_server",
        "--model-dir", str(model_dir), "--port", str(port), "--workdir", str(workdir),
    ]  # fmt: skip
    with pinned(cpus), open(workdir / "flask.log", "ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_ping(url, process, timeout)
        yield Target(url, workdir / launcher.KEY_FILE, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_ping(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Flask baseline exited with {process.returncode}")
        try:
            if requests.get(f"{url}/ping", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"the Flask baseline did not answer {url}/ping in {timeout:.0f} s")
