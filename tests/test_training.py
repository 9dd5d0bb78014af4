"""The training pipeline: data layout, the tiny end-to-end run, export, resume, paper preset."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from realcheck import registry, spec
from realcheck.detector import load_scripted
from training import data
from training.train import epoch_schedule

ROOT = Path(__file__).resolve().parent.parent


def run_training(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "training", *args], cwd=ROOT, check=True)


def test_tiny_pipeline_leaves_every_artifact(tiny_run):
    for model in spec.MODEL_NAMES:
        folder = tiny_run / model
        scripted = torch.jit.load(str(folder / "model.pt"))
        assert isinstance(scripted, torch.jit.ScriptModule)
        calibration = json.loads((folder / "calibration.json").read_text())
        assert {"A", "B", "score", "n", "validation_set"} <= set(calibration)
        assert calibration["n"] > 0 and calibration["score"]
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["model"] == model and metrics["preset"] == "tiny"
        for name in ("all", "unseen", "inpainted", "jpeg75", "resize05", *metrics["generators"]):
            result = metrics["test_sets"][name]
            assert {"n", "accuracy", "roc_auc", "ap", "confusion"} <= set(result)
            assert sum(result["confusion"].values()) == result["n"] > 0
        assert {"A", "B", "ece_before", "ece_after", "brier_before", "brier_after"} <= set(metrics["calibration"])
        assert (folder / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    assert "pixel" in json.loads((tiny_run / "fcn" / "metrics.json").read_text())
    report = (tiny_run / "report.md").read_text()
    for heading in ("Cross-generator table", "Calibration", "pixel localisation", "synthetic"):
        assert heading in report
    for model in spec.MODEL_NAMES:
        assert (tiny_run / "model_store" / f"{model}.mar").stat().st_size > 0


def test_fcn_serves_its_fine_tuned_weights(tiny_run):
    # The fine-tune stage validates on another set; its best epoch must not be
    # compared against the main stage's losses and thrown away.
    history = json.loads((tiny_run / "fcn" / "train.json").read_text())["history"]
    assert [h["stage"] for h in history if h["best"]][-1] == "finetune"
    assert torch.load(tiny_run / "fcn" / "best.pth", weights_only=False)["stage"] == "finetune"


def test_export_embeds_the_spec_and_provenance(tiny_run):
    model, metadata = load_scripted(tiny_run / "cnn" / "model.pt")
    model_spec = spec.ModelSpec.from_json(metadata["spec"])
    assert model_spec.input_size == spec.INPUT_SIZES["tiny"]
    assert model_spec.mean == spec.IMAGENET_MEAN and model_spec.labels == spec.LABELS
    assert {"preset", "data", "date", "git_commit", "version"} <= set(metadata)
    assert metadata["export"]["parity_max_abs_diff"] <= 1e-4


def _write(path: Path, colour=(120, 60, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (48, 40), colour).save(path)


def test_genimage_nesting_split_and_corrupt_files(tmp_path):
    # GenImage nests each generator once more: ADM/imagenet_ai_0508_adm/train/ai/...
    for generator, inner in (("ADM", "imagenet_ai_0508_adm"), ("BigGAN", "imagenet_ai_0419_biggan")):
        for split in ("train", "val"):
            for class_dir in ("ai", "nature"):
                for i in range(30):
                    _write(tmp_path / generator / inner / split / class_dir / f"{generator}_{class_dir}_{i}.png")
    (tmp_path / "ADM" / "imagenet_ai_0508_adm" / "train" / "ai" / "broken.png").write_bytes(b"\x89PNG broken")
    _write(tmp_path / "reddit" / "a.png")
    layout = data.discover(tmp_path, holdout=["BigGAN"])
    assert layout.generators == ["ADM", "BigGAN"] and layout.seen == ["ADM"] and layout.flat_ai == ["reddit"]
    train, val = data.train_val_samples(layout, ["ADM"])
    assert len(train) + len(val) == 61
    assert len(val) == 3 + 4  # ceil(10%) of 30 nature and of 31 ai files
    assert data.train_val_samples(layout, ["ADM"]) == (train, val)  # deterministic
    assert {s.label for s in train} == {spec.AI_INDEX, spec.REAL_INDEX}
    with pytest.raises(ValueError):
        data.discover(tmp_path, holdout=["DALLE3"])

    out = tmp_path / "run"
    run_training(
        "train", "--model", "cnn", "--preset", "tiny", "--data", str(tmp_path), "--holdout", "BigGAN",
        "--out", str(out), "--steps-per-epoch", "0", "--batch-size", "64", "--workers", "0",
    )  # fmt: skip
    summary = json.loads((out / "train.json").read_text())
    assert any(path.endswith("broken.png") for path in summary["corrupt"])


def test_resume_continues_from_the_checkpoint(synthetic_root, tmp_path):
    common = ["train", "--model", "vit", "--preset", "tiny", "--data", str(synthetic_root), "--out", str(tmp_path)]
    common += ["--workers", "0"]
    run_training(*common, "--epochs", "1")
    run_training(*common, "--epochs", "2", "--resume")
    history = json.loads((tmp_path / "train.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [0, 1]
    checkpoint = torch.load(tmp_path / "checkpoint.pth", weights_only=False)
    assert {"model", "optimizer", "epoch", "args"} <= set(checkpoint) and checkpoint["epoch"] == 1


def test_epoch_schedule_follows_the_study_and_scales_the_rate_drop():
    paper_cnn = registry.get_entry("cnn", "paper").train
    assert epoch_schedule(paper_cnn, 8, None) == (5, 0)  # CNN-ALL: 5 epochs
    assert epoch_schedule(paper_cnn, 1, None) == (10, 0)  # CNN-SD1.4: 10 epochs
    paper_vit = registry.get_entry("vit", "paper").train
    assert epoch_schedule(paper_vit, 8, None) == (10, 5)
    assert epoch_schedule(paper_vit, 8, 20) == (20, 10)  # the drop moves with --epochs
    demo_cnn = registry.get_entry("cnn", "demo").train
    epochs, drop = epoch_schedule(demo_cnn, 1, None)
    assert epochs == demo_cnn.one_generator_epochs and drop / epochs == demo_cnn.lr_drop_epoch / demo_cnn.epochs


@pytest.mark.slow
@pytest.mark.parametrize("model", spec.MODEL_NAMES)
def test_paper_preset_trains_one_step_and_exports(model, synthetic_root, tmp_path):
    run_training(
        "train", "--model", model, "--preset", "paper", "--data", str(synthetic_root), "--out", str(tmp_path),
        "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2", "--finetune-epochs", "0", "--workers", "0",
    )  # fmt: skip
    run_training(
        "export", "--run", str(tmp_path), "--model", model, "--preset", "paper", "--data", str(synthetic_root)
    )
    _, metadata = load_scripted(tmp_path / "model.pt")
    assert metadata["spec"]["input_size"] == 224 and metadata["export"]["parity_max_abs_diff"] <= 1e-4
