"""Start TorchServe from config.properties, wait until every model is READY, stop it."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence

import requests

ROOT = Path(__file__).resolve().parent.parent
BASE_CONFIG = ROOT / "config.properties"
# The frontend's log configuration realcheck ships (see the file's header).
LOG_CONFIG = ROOT / "serving" / "log4j2.xml"
KEY_FILE = "key_file.json"
MODELS = ("cnn", "fcn", "vit")


@dataclasses.dataclass
class Server:
    workdir: Path
    inference_url: str
    management_url: str
    metrics_url: str
    inference_key: str
    management_key: str
    models: Sequence[str]
    process: Optional[subprocess.Popen] = None

    def auth(self, kind: str = "inference") -> Dict[str, str]:
        key = self.inference_key if kind == "inference" else self.management_key
        return {"Authorization": f"Bearer {key}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_ports() -> Dict[str, str]:
    """Config overrides that put every listener on a free port, so that several
    servers (tests, benchmarks, `make serve`) can run on one machine."""
    worker_base = 20000 + free_port() % 20000  # workers use unix sockets named by port
    return {
        "inference_address": f"http://127.0.0.1:{free_port()}",
        "management_address": f"http://127.0.0.1:{free_port()}",
        "metrics_address": f"http://127.0.0.1:{free_port()}",
        "grpc_inference_port": str(free_port()),
        "grpc_management_port": str(free_port()),
        "initial_worker_port": str(worker_base),
    }


def read_properties(path: Path) -> Dict[str, str]:
    values: Dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def write_config(out: Path, overrides: Mapping[str, str], base: Path = BASE_CONFIG) -> Path:
    """base config.properties with ``overrides`` applied; comments are not carried over."""
    values = {**read_properties(base), **overrides}
    out.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return out


def quiet_logs() -> Dict[str, str]:
    """The config override that makes the frontend log through LOG_CONFIG."""
    return {"vmargs": f"-Dlog4j.configurationFile=file://{LOG_CONFIG}"}


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def start(
    model_store: Path,
    workdir: Path,
    models: Sequence[str] = MODELS,
    overrides: Optional[Mapping[str, str]] = None,
    foreground: bool = True,
    timeout: float = 300.0,
    env: Optional[Mapping[str, str]] = None,
) -> Server:
    """Start TorchServe and return once every model has a READY worker.

    ``foreground=True`` keeps TorchServe a child process (tests, benchmarks);
    ``False`` lets it daemonise (`make serve`), to be ended with ``stop_daemon``.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / KEY_FILE).unlink(missing_ok=True)
    settings = {"model_store": str(Path(model_store).resolve()), **(overrides or {})}
    config = write_config(workdir / "config.properties", settings)
    values = read_properties(config)
    command = [
        str(Path(sys.executable).parent / "torchserve"),
        "--start",
        "--ncs",  # no config snapshots: state is the archives and this config
        "--ts-config", str(config),
        "--model-store", settings["model_store"],
        "--models", *[f"{m}={m}.mar" for m in models],
    ]  # fmt: skip
    if foreground:
        command.append("--foreground")
    log = open(workdir / "torchserve.out", "ab")
    process_env = {**os.environ, **_server_env(workdir), **(env or {})}
    process = subprocess.Popen(
        command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=process_env, start_new_session=foreground
    )
    server = Server(
        workdir=workdir,
        inference_url=values["inference_address"],
        management_url=values["management_address"],
        metrics_url=values["metrics_address"],
        inference_key="",
        management_key="",
        models=list(models),
        process=process if foreground else None,
    )
    try:
        wait_ready(server, timeout, process if foreground else None)
    except BaseException:
        stop(server)
        raise
    return server


def _server_env(workdir: Path) -> Dict[str, str]:
    """Logs under the workdir, and a private TMPDIR: TorchServe keeps its pid file
    in the temp folder, and a shared one would let only one server run per machine."""
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return {"LOG_LOCATION": str(workdir / "logs"), "METRICS_LOCATION": str(workdir / "logs"), "TMPDIR": str(tmp)}


def read_keys(workdir: Path) -> tuple[str, str]:
    keys = json.loads((Path(workdir) / KEY_FILE).read_text())
    return keys["inference"]["key"], keys["management"]["key"]


def wait_ready(server: Server, timeout: float, process: Optional[subprocess.Popen] = None) -> None:
    deadline = time.monotonic() + timeout
    pending = set(server.models)
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"TorchServe exited with {process.returncode}; see {server.workdir / 'torchserve.out'}")
        try:
            if not server.management_key:
                server.inference_key, server.management_key = read_keys(server.workdir)
            for model in sorted(pending):
                response = requests.get(f"{server.management_url}/models/{model}", headers=server.auth("management"), timeout=5)
                if response.ok and any(w.get("status") == "READY" for w in response.json()[0].get("workers", [])):
                    pending.discard(model)
            if not pending:
                return
        except (OSError, ValueError, KeyError, requests.RequestException):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"models not READY after {timeout:.0f} s: {sorted(pending)}; see {server.workdir / 'logs'}")


def stop(server: Server, timeout: float = 30.0) -> None:
    """Stop a foreground server (its whole process group: frontend and workers)."""
    process = server.process
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def stop_daemon(workdir: Path) -> None:
    workdir = Path(workdir).resolve()
    env = {**os.environ, **_server_env(workdir)}
    subprocess.run([str(Path(sys.executable).parent / "torchserve"), "--stop"], cwd=workdir, env=env, check=False)
    shutil.rmtree(Path(workdir) / "logs" / "config", ignore_errors=True)
