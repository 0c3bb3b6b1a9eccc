"""The `nbs2i` command: build, serve, requirements. Prints `ERROR: ...` and exits 1 on failure."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from nbs2i_service.config import ConfigError, load_config

# pipeline and source (nbconvert, IPython, nbformat) load only for the commands that build:
# `nbs2i serve` is on every start's path and execs gunicorn without them.
from . import __version__, image, serve
from .errors import BuildError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nbs2i", description="Turn a Jupyter notebook into a model service.")
    parser.add_argument("--version", action="version", version=f"nbs2i {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="build SOURCE (a directory or .ipynb) into OUT")
    build.add_argument("source")
    build.add_argument("--out", required=True, help="output folder: OUT/venv, OUT/model, OUT/service")
    build.add_argument("--notebook", help="notebook file in SOURCE (default: NBS2I_NOTEBOOK, or the only one)")
    build.add_argument("--timeout", type=float, help="seconds the notebook may run (default: NBS2I_TIMEOUT or 3600)")
    build.add_argument("--model-name", help="name served and recorded (default: NBS2I_MODEL_NAME or the notebook's stem)")
    build.add_argument("--relax-pins", action="store_true", default=None,
                       help="install every exact pin (==V) as a lower bound (>=V), for notebooks pinned to versions "
                            "older than the build's Python (default: NBS2I_RELAX_PINS)")

    srv = sub.add_parser("serve", help="serve a built OUT with gunicorn")
    srv.add_argument("out")
    srv.add_argument("--port", type=int, help="default: PORT or 8080")
    srv.add_argument("--host", help="default: NBS2I_HOST or 0.0.0.0")
    srv.add_argument("--workers", type=int, help="default: WEB_CONCURRENCY or the CPUs available")

    img = sub.add_parser("image", help="build SOURCE into a model image (the s2i flow, without s2i)")
    img.add_argument("source")
    img.add_argument("--tag", required=True, help="name of the model image")
    img.add_argument("--builder", default="nb-builder", help="builder image (default nb-builder)")
    img.add_argument("--runtime", default="nb-runtime", help="runtime image the artifacts go into (default nb-runtime)")
    img.add_argument("--single-stage", action="store_true", help="the model image is the builder plus the build")
    img.add_argument("--incremental", action="store_true",
                     help="reuse the package cache of the previous --tag image (its save-artifacts)")
    img.add_argument("--engine", choices=image.ENGINES, help="default: the first of podman, buildah, docker found")
    img.add_argument("--dockerfile-only", type=Path, metavar="PATH", help="write the Dockerfile to PATH, build nothing")

    score = sub.add_parser("score", help="score a JSON Lines or CSV file with a built OUT")
    score.add_argument("out")
    score.add_argument("--input", required=True, help="JSON Lines or CSV (by extension, or --format); - for stdin")
    score.add_argument("--output", required=True, help="JSON Lines, one answer per input record; - for stdout")
    score.add_argument("--format", choices=("jsonl", "csv"))
    score.add_argument("--batch-size", type=int, default=256)

    stream = sub.add_parser("stream", help="run the Redis stream worker for a built OUT (NBS2I_REDIS_URL ...)")
    stream.add_argument("out")

    reqs = sub.add_parser("requirements", help="print a notebook's merged requirements, one per line")
    reqs.add_argument("notebook")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config()
        if args.command == "build":
            overrides = {k: v for k, v in (("notebook", args.notebook), ("timeout", args.timeout),
                                           ("model_name", args.model_name), ("relax_pins", args.relax_pins))
                         if v is not None}
            from . import pipeline

            pipeline.build(args.source, Path(args.out), dataclasses.replace(config, **overrides))
        elif args.command == "serve":
            serve.exec_service(Path(args.out), args.port, args.workers, args.host)
        elif args.command == "score":
            extra = ["--format", args.format] if args.format else []
            serve.exec_module(Path(args.out), "nbs2i_service.score",
                              ["--input", args.input, "--output", args.output, "--batch-size", str(args.batch_size),
                               *extra, str(Path(args.out).resolve() / "model")])
        elif args.command == "stream":
            serve.exec_module(Path(args.out), "nbs2i_service.stream", [])
        elif args.command == "image":
            image.build(Path(args.source), args.tag, args.builder, None if args.single_stage else args.runtime,
                        args.engine, args.incremental, args.dockerfile_only)
        elif args.command == "requirements":
            from . import pipeline, source

            for req in pipeline.read_requirements(source.locate(args.notebook, config.notebook), config):
                print(req.text)
    except (BuildError, ConfigError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
