"""``python -m training {synth,train,evaluate,export,archive,all}``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from realcheck import registry, spec

from . import archive, data, export, pipeline, train
from .evaluate import evaluate_run


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    from .synth import add_synth_args

    add_synth_args(commands.add_parser("synth", help="build the synthetic GenImage-style dataset"))
    train.add_train_args(commands.add_parser("train", help="train one model"))

    for name, helptext in (("evaluate", "calibrate and evaluate a trained run"), ("export", "export a trained run to TorchScript")):
        sub = commands.add_parser(name, help=helptext)
        sub.add_argument("--run", type=Path, required=True, help="the run folder that holds best.pth")
        sub.add_argument("--model", choices=spec.MODEL_NAMES, required=True)
        sub.add_argument("--preset", choices=spec.PRESETS, default="demo")
        sub.add_argument("--generators", default="all", help="what the run was trained on")
        train.add_data_args(sub)
        sub.add_argument("--device", default="auto")
        sub.add_argument("--workers", type=int, default=2)

    archive.add_archive_args(commands.add_parser("archive", help="package exported models as .mar files"))
    pipeline.add_all_args(commands.add_parser("all", help="synth, train, calibrate, evaluate, export and archive"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.command == "synth":
        from .synth import run_synth

        run_synth(args)
    elif args.command == "train":
        train.train(args)
    elif args.command in ("evaluate", "export"):
        layout = train.resolve_data(args)
        device = train.resolve_device(args.device)
        model = train.load_best(args.run, args.model, args.preset, device)
        model_spec = registry.get_entry(args.model, args.preset).spec
        trained_on = data.select_generators(layout, args.generators)
        if args.command == "evaluate":
            evaluate_run(args.run, model, model_spec, layout, trained_on, device, args.workers)
        else:
            export.export(model, model_spec, Path(args.run) / "model.pt", data=str(layout.root), extra={"trained_on": trained_on})
    elif args.command == "archive":
        archive.run_archive(args)
    elif args.command == "all":
        pipeline.run_all(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
