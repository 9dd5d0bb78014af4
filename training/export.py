"""TorchScript export with a parity check and the model's metadata embedded.

The metadata (``realcheck.json`` inside the archive's ``_extra_files``) carries the
ModelSpec — input size, mean/std, label convention, view mode — plus provenance.
The weights inside the TorchScript file are all an explanation needs: handlers
rebuild an eager twin from the registry and load them (see realcheck.explain).
"""

from __future__ import annotations

import datetime
import json
import subprocess
import warnings
from pathlib import Path

import torch
from torch import nn

from realcheck import __version__, spec

PARITY_TOLERANCE = 1e-4


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def metadata(model_spec: spec.ModelSpec, data: str, extra: dict | None = None) -> dict:
    return {
        "spec": model_spec.to_json(),
        "version": __version__,
        "preset": model_spec.preset,
        "data": data,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        **(extra or {}),
    }


def to_torchscript(model: nn.Module, example: torch.Tensor) -> tuple[torch.jit.ScriptModule, str]:
    """Script the model; fall back to tracing where scripting fails."""
    model = model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        try:
            return torch.jit.script(model), "script"
        except Exception as exc:  # noqa: BLE001 - any scripting failure means "trace instead"
            print(f"scripting failed ({type(exc).__name__}: {exc}); tracing instead")
            with torch.no_grad():
                return torch.jit.trace(model, example), "trace"


def parity(model: nn.Module, scripted: torch.jit.ScriptModule, model_spec: spec.ModelSpec) -> float:
    """Max |eager - scripted| on fixed inputs, including a non-square one for the FCN."""
    generator = torch.Generator().manual_seed(0)
    size = model_spec.input_size
    shapes = [(2, 3, size, size)]
    if model_spec.name == "fcn":
        shapes.append((1, 3, size + 24, 2 * size))
    worst = 0.0
    with torch.no_grad():
        for shape in shapes:
            x = torch.randn(shape, generator=generator)
            worst = max(worst, float((model(x) - scripted(x)).abs().max()))
    return worst


def export(model: nn.Module, model_spec: spec.ModelSpec, out_path: Path, data: str, extra: dict | None = None) -> dict:
    model = model.cpu().eval()
    size = model_spec.input_size
    scripted, method = to_torchscript(model, torch.zeros(1, 3, size, size))
    difference = parity(model, scripted, model_spec)
    if difference > PARITY_TOLERANCE:
        raise RuntimeError(f"TorchScript output differs from eager by {difference:.2e} > {PARITY_TOLERANCE}")
    meta = metadata(model_spec, data, {"export": {"method": method, "parity_max_abs_diff": difference}, **(extra or {})})
    out_path.parent.mkdir(parents=True, exist_ok=True)
    scripted.save(str(out_path), _extra_files={spec.METADATA_FILE: json.dumps(meta, sort_keys=True)})
    print(f"exported {model_spec.name}/{model_spec.preset} to {out_path} ({method}, parity {difference:.1e})")
    return meta
