"""report.md from the metrics.json files of one ``python -m training all`` run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

DEFAULT_COMMAND = "python -m training all --preset {preset} --data {data} --out {out}"


def _pct(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _num(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _load(out: Path) -> Dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(out.glob("*/metrics.json"))}


def _confusion(name: str, result: dict) -> List[str]:
    c = result["confusion"]
    rows = [f"**{name}**", "", "| | Guessed AI | Guessed Real |", "| --- | --- | --- |", f"| Was AI | {c['ai_as_ai']} | {c['ai_as_real']} |"]
    if c["real_as_ai"] + c["real_as_real"]:
        rows.append(f"| Was Real | {c['real_as_ai']} | {c['real_as_real']} |")
    return rows + [""]


def write_report(out: Path) -> Path:
    out = Path(out)
    runs = _load(out)
    timings = json.loads((out / "timings.json").read_text()) if (out / "timings.json").exists() else {}
    first = next(iter(runs.values()))
    preset = first["preset"]
    data = "synthetic" if (out / "synthetic").exists() else "<GenImage root>"
    lines = [
        f"# realcheck evaluation report ({preset} preset)",
        "",
        f"Produced by `{DEFAULT_COMMAND.format(preset=preset, data=data, out=out)}`.",
        "",
    ]
    if data == "synthetic":
        lines += [
            "> **These models were trained and tested on realcheck's synthetic GenImage-style set** (real photos",
            "> shipped inside Python packages, stamped with simulated upsampling-decoder fingerprints). The numbers",
            "> say the pipeline works; they say nothing about real generators. Retrain on GenImage before trusting",
            "> a verdict: `python -m training all --preset paper --data /path/to/GenImage --holdout <generator>`.",
            "",
        ]
    unseen = ", ".join(first.get("unseen", [])) or "none"
    lines += [f"Generators kept out of training (test set `unseen`): {unseen}. Positive = AI.", ""]

    lines += ["## Accuracy per test set", ""]
    names = [n for n in first["test_sets"]]
    lines += ["| model | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for run, metrics in runs.items():
        lines.append(f"| {run} | " + " | ".join(_pct(metrics["test_sets"].get(n, {}).get("accuracy")) for n in names) + " |")
    lines += ["", "## ROC-AUC and AP on `all`, `unseen` and the robustness copies", ""]
    lines += ["| model | set | n | accuracy | ROC-AUC | AP |", "| --- | --- | --- | --- | --- | --- |"]
    for run, metrics in runs.items():
        for name in ("all", "unseen", "jpeg75", "resize05"):
            if name in metrics["test_sets"]:
                r = metrics["test_sets"][name]
                lines.append(f"| {run} | {name} | {r['n']} | {_pct(r['accuracy'])} | {_num(r['roc_auc'])} | {_num(r['ap'])} |")

    cross = [run for run in runs if runs[run]["model"] == "cnn"]
    if len(cross) > 1:
        lines += ["", "## Cross-generator table (as the study's CNN-SD1.4 vs CNN-ALL)", ""]
        generators = runs[cross[0]]["generators"]
        lines += ["| trained on | " + " | ".join(generators) + " |", "| --- |" + " --- |" * len(generators)]
        for run in cross:
            trained = ",".join(runs[run]["trained_on"]) if len(runs[run]["trained_on"]) == 1 else "all seen"
            lines.append(f"| {run} ({trained}) | " + " | ".join(_pct(runs[run]["test_sets"][g]["accuracy"]) for g in generators) + " |")

    lines += ["", "## Confusion matrices on `all` (the study's form)", ""]
    for run, metrics in runs.items():
        lines += _confusion(run, metrics["test_sets"]["all"])

    lines += ["## Calibration (Platt scaling, fitted on the validation split, measured on `all`)", ""]
    lines += ["| model | A | B | n | ECE before | ECE after | Brier before | Brier after | NLL before | NLL after |", "| --- |" + " --- |" * 9]
    for run, metrics in runs.items():
        c = metrics["calibration"]
        lines.append(
            f"| {run} | {c['A']:.3f} | {c['B']:.3f} | {c['n']} | {_num(c['ece_before'])} | {_num(c['ece_after'])} | "
            f"{_num(c['brier_before'])} | {_num(c['brier_after'])} | {_num(c['nll_before'])} | {_num(c['nll_after'])} |"
        )
    lines += ["", "Reliability diagrams: " + ", ".join(f"[{run}]({run}/reliability.png)" for run in runs), ""]

    pixel_runs = {run: m["pixel"] for run, m in runs.items() if "pixel" in m}
    if pixel_runs:
        lines += ["## FCN pixel localisation on the inpainted test set", "", "| model | pixel IoU | pixel F1 |", "| --- | --- | --- |"]
        lines += [f"| {run} | {_num(p['iou'])} | {_num(p['f1'])} |" for run, p in pixel_runs.items()]
        lines.append("")

    views = {run: m["view_modes"] for run, m in runs.items() if "view_modes" in m}
    if views:
        lines += ["## Preprocessing choice: resize vs centre crop vs multi-crop (test set `all`)", ""]
        lines += ["| model | view | accuracy | ROC-AUC |", "| --- | --- | --- | --- |"]
        for run, modes in views.items():
            lines += [f"| {run} | {mode} | {_pct(r['accuracy'])} | {_num(r['roc_auc'])} |" for mode, r in modes.items()]
        lines += [
            "",
            "Served models use `multicrop` (spec.DEFAULT_VIEW_MODE): native-resolution crops keep the high-frequency",
            "fingerprints that resizing smooths away. The calibration was fitted for multicrop scores, so compare the",
            "ROC-AUC column for the other modes.",
            "",
        ]

    if timings:
        lines += ["## Wall time", "", f"torch threads: {timings.get('threads')}", "", "| step | seconds |", "| --- | --- |"]
        lines += [f"| {step} | {seconds} |" for step, seconds in timings["seconds"].items()]
        lines.append("")
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
