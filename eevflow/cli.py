"""The ``eevflow`` console command (installed with the package).

``eevflow predict VIDEO... --model PATH [--out DIR]``: the predicted expression curves of videos
that have no label file, one EEV-layout CSV and one plot per video (eevflow.new_videos).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from eevflow.ids import folder_videos


def _add_predict(sub) -> None:
    p = sub.add_parser(
        "predict", help="predict videos with a trained variant, sweep or ensemble",
        description="Predict the 6 Hz expression curves of each VIDEO (a file, or a folder of "
                    "them) with a trained model: <out>/<video id>.csv in the EEV layout "
                    "(timestamps in microseconds) and <out>/<video id>.png.")
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or folders")
    p.add_argument("--model", required=True, metavar="PATH",
                   help="results/models/<variant>/model.pt, results/predictions/<sweep>/"
                        "sweep.json or results/predictions/<ensemble>/weights.json")
    p.add_argument("--out", default="predictions", metavar="DIR",
                   help="output folder (default: ./predictions)")
    p.add_argument("--config", metavar="YAML",
                   help="the workflow config the model was trained with: its extractors and "
                        "decode settings, for a checkpoint that does not record them")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--thumbnails", type=int, default=8,
                   help="frames shown under the plot (0: none; default 8)")
    p.add_argument("--no-plot", action="store_true", help="write the CSV only")
    p.add_argument("--extensions", default=".mp4,.mkv,.webm,.mov,.avi,.m4v,.flv,.ts",
                   help="suffixes of the videos taken from a folder")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first video that cannot be used (default: log, count, go on)")


def expand_videos(items: list[str], extensions: list[str]) -> list[Path]:
    """Files as given; a folder's files with one of ``extensions``, sorted."""
    out = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = [Path(p) for p in folder_videos(path, extensions)]
            if not found:
                raise SystemExit(f"eevflow predict: no videos ({', '.join(extensions)}) in {path}")
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            raise SystemExit(f"eevflow predict: no such file or folder: {path}")
    return out


def predict(args: argparse.Namespace) -> int:
    from eevflow.feature_inputs import MissingExtractorError
    from eevflow.new_videos import VideoError, predict_files

    config = None
    if args.config:
        import yaml

        config = yaml.safe_load(Path(args.config).read_text())
    exts = [e if e.startswith(".") else f".{e}" for e in args.extensions.split(",") if e]
    videos = expand_videos(args.videos, [e.lower() for e in exts])
    try:
        done = predict_files(args.model, videos, args.out, config=config, device=args.device,
                             threads=args.threads, n_thumbnails=args.thumbnails,
                             plot=not args.no_plot, keep_going=not args.strict)
    except (FileNotFoundError, MissingExtractorError, VideoError, ValueError) as exc:
        print(f"eevflow predict: {exc}", file=sys.stderr)
        return 2
    failed = {v: why for v, why in done.items() if why != "ok"}
    for v, why in failed.items():
        print(f"eevflow predict: not predicted: {why}", file=sys.stderr)
    print(f"{len(done) - len(failed)} of {len(done)} videos predicted into {args.out}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eevflow", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_predict(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    return predict(args)


if __name__ == "__main__":
    sys.exit(main())
