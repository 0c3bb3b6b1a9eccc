"""The `nbs2i` command: build, serve, score, drift, stream, image, requirements. Prints `ERROR: ...` and
exits 1 on failure."""
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


def _engine_score(args: argparse.Namespace) -> dict:
    """`nbs2i score --engine`: the engine runs here (its driver), the model in OUT/venv on its workers."""
    package = {"spark": "pyspark", "ray": "ray"}[args.engine]
    try:
        __import__(package)
    except ImportError:
        raise BuildError(f"--engine {args.engine} needs {package} in this environment ({sys.executable}): "
                         f"pip install 'nbs2i[{args.engine}]'.") from None
    fmt = {"jsonl": "json", "csv": "csv"}.get(args.format or "")
    if args.engine == "spark":
        from nbs2i_service import spark

        return spark.score_files(args.out, args.input, args.output, args.master, fmt)
    from nbs2i_service import ray

    return ray.score_files(args.out, args.input, args.output, fmt)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nbs2i", description="Turn a Jupyter notebook into a model service.")
    parser.add_argument("--version", action="version", version=f"nbs2i {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="build SOURCE (a directory or .ipynb) into OUT",
                           description="Run the notebook in a build environment, save predictor/validator, derive the "
                                       "served environment and smoke-test it. Every setting also reads an environment "
                                       "variable (README: Configuration).")
    build.add_argument("source", help="a checkout (the notebook at its top, or --notebook) or a .ipynb file")
    build.add_argument("--out", required=True, help="output folder: OUT/venv, OUT/model, OUT/service")
    build.add_argument("--installer", choices=("auto", "uv", "pip"), help="package installer (default: NBS2I_INSTALLER or auto)")
    _notebook_options(build)
    build.add_argument("--timeout", type=float, help="seconds the notebook may run (default: NBS2I_TIMEOUT or 3600)")
    build.add_argument("--model-name", help="name served and recorded (default: NBS2I_MODEL_NAME or the notebook's stem)")
    build.add_argument("--relax-pins", action="store_true", default=None,
                       help="install every pin (==V, ==V.*, ~=V) as the nearest release at or above V that installs on "
                            "the build's Python, and the rest of the build environment as of the day those came out, for "
                            "notebooks pinned before the build's Python (default: NBS2I_RELAX_PINS)")
    build.add_argument("--as-of", help="today (never look back), notebook (every unpinned or bounded requirement as of "
                                       "the notebook's last commit) or a day YYYY-MM-DD; default: today, and once more as "
                                       "of the notebook's last commit when a cell fails on a package newer than the "
                                       "notebook (NBS2I_AS_OF)")

    srv = sub.add_parser("serve", help="serve a built OUT with gunicorn",
                         description="Serve OUT with its own venv's gunicorn. Other settings: NBS2I_* variables "
                                     "(README: Configuration), e.g. NBS2I_API_TOKEN, NBS2I_THREADS, NBS2I_MAX_BATCH.")
    srv.add_argument("out", help="a build output (nbs2i build ... --out OUT)")
    srv.add_argument("--port", type=int, help="default: PORT or 8080")
    srv.add_argument("--grpc-port", type=int, help="the Open Inference Protocol over gRPC; default: NBS2I_GRPC_PORT "
                                                   "or 8081; 0: none")
    srv.add_argument("--host", help="default: NBS2I_HOST or 0.0.0.0")
    srv.add_argument("--workers", type=int, help="default: WEB_CONCURRENCY or the CPUs available")

    img = sub.add_parser("image", help="build SOURCE into a model image (the s2i flow, without s2i)")
    img.add_argument("source", help="a checkout or a .ipynb file, as for build; .s2i/environment sets NBS2I_* variables")
    img.add_argument("--tag", required=True, help="name of the model image")
    img.add_argument("--builder", default="nb-builder", help="builder image (default nb-builder)")
    img.add_argument("--runtime", default="nb-runtime", help="runtime image the artifacts go into (default nb-runtime)")
    img.add_argument("--single-stage", action="store_true", help="the model image is the builder plus the build")
    img.add_argument("--incremental", action="store_true",
                     help="reuse the package cache of the previous --tag image (its save-artifacts)")
    img.add_argument("--engine", choices=image.ENGINES, help="default: the first of podman, buildah, docker found")
    img.add_argument("--dockerfile-only", type=Path, metavar="PATH", help="write the Dockerfile to PATH, build nothing")
    img.add_argument("--signing-key", type=Path, metavar="PEM",
                     help="sign the model with this private key, given to the build as a secret (default: "
                          "NBS2I_SIGNING_KEY_FILE); docs/deploy.md, Signed models")

    score = sub.add_parser("score", help="score a JSON Lines or CSV file with a built OUT")
    score.add_argument("out", nargs="?", help="the build output (not needed with --merge)")
    score.add_argument("--input", help="JSON Lines or CSV (by extension, or --format); - for stdin")
    score.add_argument("--output", required=True, help="JSON Lines, one answer per input record; - for stdout")
    score.add_argument("--format", choices=("jsonl", "csv"), help="default: from the input's extension")
    score.add_argument("--batch-size", type=int, default=256, help="samples read and scored together (default 256)")
    score.add_argument("--shard", metavar="I/N", help="score the I-th (from 0) of N line ranges of a JSON Lines input "
                       "into OUTPUT.part-I-of-N (env JOB_COMPLETION_INDEX and JOB_COMPLETIONS, as in an Indexed Job)")
    score.add_argument("--merge", action="store_true", help="join the parts OUTPUT.part-*-of-N into OUTPUT, in input order")
    score.add_argument("--engine", choices=("spark", "ray"),
                       help="score with Spark (local, or SPARK_HOME's master) or Ray (RAY_ADDRESS, else local): "
                            "--input any path or URI the engine reads (Parquet, JSON Lines, CSV), --output a folder "
                            "of JSON Lines; needs pyspark or ray[data] in this environment (pip install 'nbs2i[spark]')")
    score.add_argument("--master", help="with --engine spark: the Spark master (default local[*], or spark-submit's)")

    drift = sub.add_parser("drift", help="the drift of a file of samples (or payload-log events) against the "
                                         "notebook's training data",
                           description="Compare a JSON Lines file of samples, or of the payload log's events, with the "
                                       "reference profile the build kept, as /drift does for the live window.")
    drift.add_argument("out", help="a build output")
    drift.add_argument("--input", required=True, help="JSON Lines of samples or payload-log events; - for stdin")
    drift.add_argument("--json", action="store_true", help="print the /drift document instead of the table")

    check = sub.add_parser("verify", help="check that OUT is what its build made: signature, checksums, provenance, "
                                          "and OUT/venv against its bill of materials (exit 3 when not)")
    check.add_argument("out", help="a build output")
    check.add_argument("--key", type=Path, help="the public key the build signed for (default: NBS2I_VERIFY_KEY_FILE)")
    check.add_argument("--chain", type=Path, help="the certificates a signing certificate must chain to "
                                                  "(default: NBS2I_VERIFY_CHAIN_FILE)")

    stream = sub.add_parser("stream", help="run the Redis stream worker for a built OUT (NBS2I_REDIS_URL ...)",
                            description="Read samples from a Redis stream, write predictions to another. Settings: "
                                        "NBS2I_REDIS_URL, NBS2I_STREAM_IN, NBS2I_STREAM_OUT, NBS2I_STREAM_DEAD, "
                                        "NBS2I_STREAM_GROUP, NBS2I_STREAM_CONSUMER, NBS2I_STREAM_BATCH.")
    stream.add_argument("out", help="a build output")

    reqs = sub.add_parser("requirements", help="print a notebook's merged requirements, one per line")
    reqs.add_argument("source", help="a .ipynb file, or a checkout holding one (--notebook picks among several)")
    _notebook_options(reqs)
    return parser


def _notebook_options(parser: argparse.ArgumentParser) -> None:
    """Which notebook, and whose requirements: the same for build and requirements."""
    parser.add_argument("--notebook", help="notebook file in SOURCE (default: NBS2I_NOTEBOOK, or the only one)")
    parser.add_argument("--notebook-requirements-only", dest="repository_requirements", action="store_false",
                        default=None, help="read only the notebook's own requirements, not the repository's "
                                           "requirements.txt and the like (default: NBS2I_REPOSITORY_REQUIREMENTS)")


# options of build and requirements that set the Config field of the same name
_CONFIG_OPTIONS = ("notebook", "timeout", "model_name", "relax_pins", "installer", "repository_requirements", "as_of")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config()
        overrides = {k: v for k in _CONFIG_OPTIONS if (v := getattr(args, k, None)) is not None}
        config = dataclasses.replace(config, **overrides)  # options win over their variables
        if args.command == "build":
            from . import pipeline

            pipeline.build(args.source, Path(args.out), config)
        elif args.command == "serve":
            serve.exec_service(Path(args.out), args.port, args.workers, args.host, args.grpc_port)
        elif args.command == "score" and args.merge:
            from nbs2i_service.score import ShardError, merge

            try:
                counts = merge(args.output)
            except (ShardError, OSError) as exc:
                raise BuildError(str(exc)) from None
            print(f"---> merged {counts['samples']:,} samples ({counts['errors']:,} errors) into {args.output}",
                  file=sys.stderr)
        elif args.command == "score" and args.engine:
            if not args.out or not args.input:
                raise BuildError(f"nbs2i score --engine {args.engine} needs OUT, --input and --output.")
            from nbs2i_service.pipe import Refused

            try:
                counts = _engine_score(args)
            except Refused as exc:  # the workers would not load the model: exit 3, as every loader
                print(f"ERROR: {exc}", file=sys.stderr)
                return 3
            print(f"---> scored {counts['samples']:,} samples ({counts['errors']:,} errors) to {args.output}",
                  file=sys.stderr)
        elif args.command == "score":
            if not args.out or not args.input:
                raise BuildError("nbs2i score needs OUT and --input (or --merge --output F to join shard parts).")
            extra = ["--format", args.format] if args.format else []
            extra += ["--shard", args.shard] if args.shard else []
            serve.exec_module(Path(args.out), "nbs2i_service.score",
                              ["--input", args.input, "--output", args.output, "--batch-size", str(args.batch_size),
                               *extra, str(Path(args.out).resolve() / "model")])
        elif args.command == "drift":
            serve.exec_module(Path(args.out), "nbs2i_service.drift_report",
                              [str(Path(args.out).resolve() / "model"), "--input", args.input]
                              + (["--json"] if args.json else []))
        elif args.command == "verify":
            from . import verify

            return verify.run(Path(args.out), args.key or config.verify_key_file, args.chain or config.verify_chain_file)
        elif args.command == "stream":
            serve.exec_module(Path(args.out), "nbs2i_service.stream", [])
        elif args.command == "image":
            image.build(Path(args.source), args.tag, args.builder, None if args.single_stage else args.runtime,
                        args.engine, args.incremental, args.dockerfile_only, args.signing_key or config.signing_key_file)
        elif args.command == "requirements":
            from . import pipeline, source

            for req in pipeline.read_requirements(source.locate(args.source, config.notebook), config):
                print(req.text)
    except (BuildError, ConfigError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
