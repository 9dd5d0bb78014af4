"""Realistic traffic for realcheck (TorchServe, or the Flask baseline, which speaks the same API).

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8080 --key-file build/serve/key_file.json \\
        --cnn-weight 3 --fcn-weight 1 --vit-weight 1 --explain-rate 0.02

Each request posts one photo of the corpus (loadtest/images.py; JPEG and PNG,
0.3 to 12 MP, picked by ``--images`` weights) as a raw body to one model, and
asks for an explanation at ``--explain-rate``. Every answer is checked: a
status other than 200, a body that breaks schemas/prediction.schema.json, the
wrong model, or explanations missing or unasked counts as a failure.
Tasks are tagged by model (``--tags cnn``). ``--rate-per-user`` paces each user
for a fixed offered load (``--arrivals poisson`` or ``even``); 0 sends back to back.
``--latency-file`` writes the measured window and, for every response after the
stats reset, its completion time, response time (ms) and success, for CDFs and
time series.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import time
from pathlib import Path
from typing import List, Tuple

import gevent
from locust import FastHttpUser, constant, events, tag, task

ROOT = Path(__file__).resolve().parent.parent
# Locust puts only this file's folder on sys.path; the corpus module lives in the package.
sys.path.insert(0, str(ROOT))

from loadtest import images  # noqa: E402
from loadtest.checks import problem  # noqa: E402
from realcheck.spec import MODEL_NAMES  # noqa: E402



@dataclasses.dataclass
class _Run:
    """This process's run: the bodies to send (set by the init listener) and what was measured."""

    bodies: List[Tuple[str, bytes]] = dataclasses.field(default_factory=list)  # (image class, bytes)
    weights: List[float] = dataclasses.field(default_factory=list)
    reset_stats: bool = False
    window_start: float = dataclasses.field(default_factory=time.time)  # the stats reset, or the start
    latencies: List[Tuple[float, float, bool]] = dataclasses.field(default_factory=list)  # (completion time, response ms, ok)


_run = _Run()


@events.init_command_line_parser.add_listener
def _add_arguments(parser) -> None:
    group = parser.add_argument_group("realcheck")
    group.add_argument("--key-file", default="build/serve/key_file.json", env_var="REALCHECK_KEY_FILE",
                       help="TorchServe's key_file.json; users send its inference key")  # fmt: skip
    group.add_argument("--corpus", default="build/loadtest/corpus", env_var="REALCHECK_CORPUS",
                       help="image folder (built on first use)")  # fmt: skip
    group.add_argument("--images", default=images.DEFAULT_MIX, env_var="REALCHECK_IMAGES",
                       help="image classes and weights, e.g. medium-jpeg:4,large-png:1")  # fmt: skip
    for model in MODEL_NAMES:
        group.add_argument(f"--{model}-weight", type=int, default=1, env_var=f"REALCHECK_{model.upper()}_WEIGHT",
                           help=f"relative share of requests to {model}")  # fmt: skip
    group.add_argument("--explain-rate", type=float, default=0.02, env_var="REALCHECK_EXPLAIN_RATE",
                       help="fraction of requests that ask for explanations")  # fmt: skip
    group.add_argument("--rate-per-user", type=float, default=0.0, env_var="REALCHECK_RATE_PER_USER",
                       help="requests/s per user, on a schedule (0: back to back)")  # fmt: skip
    group.add_argument("--arrivals", choices=("poisson", "even"), default="poisson", env_var="REALCHECK_ARRIVALS",
                       help="with --rate-per-user: exponential or constant gaps between a user's requests")  # fmt: skip
    group.add_argument("--latency-file", default="", env_var="REALCHECK_LATENCY_FILE",
                       help="at stop, write the measured window and 'completion time,response ms,ok' per request here")  # fmt: skip


@events.init.add_listener
def _configure(environment, **_kwargs) -> None:
    options = environment.parsed_options
    if options is None:  # a library caller that set RealcheckUser up itself
        return
    for image, weight in images.select(images.build(Path(options.corpus)), options.images):
        _run.bodies.append((image.image_class, image.path.read_bytes()))
        _run.weights.append(weight)
    _run.reset_stats = options.reset_stats
    # Task weights come from the command line, so they are applied here (tags are filtered later, at start).
    RealcheckUser.tasks = [t for t in RealcheckUser.tasks for _ in range(getattr(options, f"{_model_of(t)}_weight"))]
    RealcheckUser.wait_time = scheduled(options.rate_per_user, options.arrivals) if options.rate_per_user > 0 else constant(0)


def scheduled(rate: float, arrivals: str):
    """A Locust wait_time that starts a user's requests on a schedule, ``rate`` per second on average.

    Start times are scheduled rather than counted from the last response, so a
    slow answer does not lower the offered load. ``poisson`` gaps are
    exponential: many users together offer Poisson traffic, the bursts a real
    service sees. ``even`` gaps are constant (what ``constant_throughput`` does).
    """

    def wait_time(user) -> float:
        now = time.monotonic()
        gap = random.expovariate(rate) if arrivals == "poisson" else 1.0 / rate
        user.next_start = getattr(user, "next_start", now) + gap
        return max(0.0, user.next_start - now)

    return wait_time


def _model_of(task_function) -> str:
    return next(iter(task_function.locust_tag_set))


@events.spawning_complete.add_listener
def _start_window(**_kwargs) -> None:
    # --reset-stats resets Locust's numbers here without firing reset_stats, so follow it by hand.
    if _run.reset_stats:
        _run.latencies.clear()
        _run.window_start = time.time()


@events.request.add_listener
def _record_latency(response_time: float, exception=None, **_kwargs) -> None:
    _run.latencies.append((time.time(), response_time, exception is None))


@events.test_stop.add_listener
def _write_latencies(environment, **_kwargs) -> None:
    path = environment.parsed_options.latency_file if environment.parsed_options else ""
    if path:
        # First line: the measured window (start, stop), so server CPU can be counted over the same seconds.
        window = f"window,{_run.window_start:.3f},{time.time():.3f}\n"
        Path(path).write_text(window + "".join(f"{t:.3f},{ms:.2f},{int(ok)}\n" for t, ms, ok in _run.latencies))


class RealcheckUser(FastHttpUser):
    # Long enough for a cold explanation of a 12 MP photo behind a full queue.
    network_timeout = 180.0
    connection_timeout = 30.0
    wait_time = constant(0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        key = json.loads(Path(options.key_file).read_text())["inference"]["key"]
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/octet-stream"}
        if options.rate_per_user > 0:
            # Users spawn together; without a random first gap their first requests would arrive as one burst.
            rate = options.rate_per_user
            gevent.sleep(random.expovariate(rate) if options.arrivals == "poisson" else random.uniform(0, 1 / rate))

    def detect(self, model: str) -> None:
        image_class, body = random.choices(_run.bodies, _run.weights)[0]
        explain = random.random() < self.environment.parsed_options.explain_rate
        kind = "explanations" if explain else "predictions"
        with self.client.post(
            f"/{kind}/{model}", data=body, headers=self.headers, name=f"{kind}/{model} {image_class}", catch_response=True
        ) as response:
            why = problem(response.status_code or 0, response.text or "", model, explain)
            if why:
                response.failure(why)
            else:
                response.success()

    @tag("cnn")
    @task
    def cnn(self) -> None:
        self.detect("cnn")

    @tag("fcn")
    @task
    def fcn(self) -> None:
        self.detect("fcn")

    @tag("vit")
    @task
    def vit(self) -> None:
        self.detect("vit")
