"""The one pipeline: notebook -> requirements -> build env -> script -> run (IPython) -> artifact
-> served env -> smoke test.

`nbs2i build`, the s2i assemble script and `nbs2i image` (through assemble) all call build().
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import nbs2i_service
from nbs2i_service import answers, contract, openapi
from nbs2i_service.config import Config

from . import cells as cells_mod
from . import (convert, declared, environments, era, execute, imports, metadata, nearest, provenance, requirements,
               reuse, sbom, serving, signing, smoke, source, specifiers, venv)
from .errors import BuildError, ExecutionError, InstallError, RequirementsError, SmokeTestError

SMOKE_TIMEOUT_S = 300
MAX_ADDED_FOR_SERVING = 8  # packages the smoke test may add to the served environment, one at a time


def log(message: str) -> None:
    print(f"---> {message}", file=sys.stderr, flush=True)


def skeleton_dir() -> Path:
    """service_skeleton/ of this checkout: copied as is to OUT/service."""
    path = Path(nbs2i_service.__file__).resolve().parents[1]
    if not (path / "gunicorn.conf.py").is_file():
        raise BuildError(f"{path} has no gunicorn.conf.py: nbs2i must be installed from a checkout "
                         "(pip install -e .), so the service skeleton can be copied.")
    return path


def read_requirements(src: source.Source, config: Config) -> list[requirements.Requirement]:
    """Pass 1 alone (`nbs2i requirements`): nothing of the notebook runs."""
    nb = source.read(src)
    _check_syntax(nb, cells_mod.code_cells(nb), src, config)
    return _requirements(declared.collect(src, nb, config.repository_requirements), config).requirements


def _check_syntax(nb: nbformat.NotebookNode, cells: list[cells_mod.Cell], src: source.Source, config: Config) -> None:
    """The cells parse as the build's Python (NBS2I_PYTHON, else nbs2i's own) parses them."""
    ran_on = str(nb.metadata.get("language_info", {}).get("version") or "")
    cells_mod.check_syntax(cells, src.notebook, config.python, ran_on)


def _requirements(found: declared.Declared, config: Config) -> nearest.Asked:
    """What gets installed: the declared requirements; with NBS2I_RELAX_PINS, pins moved to their
    nearest installable release, the rest as of their era."""
    asked = nearest.relax(found.requirements, config) if config.relax_pins else nearest.Asked(found.requirements, [])
    _log_requirements(asked.requirements)
    return asked


def _log_requirements(reqs: list[requirements.Requirement]) -> None:
    log("Requirements (where each is declared):" + "".join(f"\n     {r.text}  ({r.origin})" for r in reqs)
        if reqs else "Requirements: none")


def build(source_path: str | Path, out: str | Path, config: Config) -> dict:
    """Build the notebook at source_path into out; return the metadata written."""
    src = source.locate(source_path, config.notebook)
    out = Path(out).resolve()
    paths = contract.out_paths(out)
    log(f"Building {src.notebook} into {out}")
    signing.check_key(config)
    nb = source.read(src)
    cells = cells_mod.code_cells(nb)
    _check_syntax(nb, cells, src, config)
    found = declared.collect(src, nb, config.repository_requirements)
    config = environments.with_indexes(config, found.indexes)
    asked = _requirements(found, config)

    out.mkdir(parents=True, exist_ok=True)
    _copy_service(paths["service"])
    model_dir = paths["model"]
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir()
    seconds = {"start": _process_age()}
    chosen = era.chosen(config, src)
    try:
        ran = _in_build_environment(nb, cells, src, asked, chosen.day if chosen else asked.era, paths, config, seconds)
    except ExecutionError as exc:
        cause = getattr(exc, "facts", {}).get("package")
        again = era.retry(config, src, cause, getattr(exc, "facts", {}).get("cell", 0)) if not chosen else None
        if again is None:
            raise ExecutionError(f"{exc}{era.hint(src, cause, config) if config.as_of == 'today' else ''}") from None
        log(f"{again.why[:1].upper()}{again.why[1:]}: building again as of then ({again.day}), as a Jupyter of the "
            "notebook's time had it")
        chosen = again
        ran = _in_build_environment(nb, cells, src, asked, again.day, paths, config, seconds)
    except InstallError as exc:
        hints = _install_hints(exc, found, nb, config)
        if not hints:
            raise
        raise RequirementsError(f"{exc}{hints}") from None
    reqs, relaxed, for_imports, report, needs = ran.reqs, ran.relaxed, ran.added, ran.report, ran.needs
    build_packages, build_size, era_day = ran.build_packages, ran.build_size, ran.era
    mark = time.monotonic()
    specs = needs.served if needs else environments.served_specs(reqs)
    # held at the versions the notebook ran with: what the model uses (or, with NBS2I_MINIMAL_ENV=0, all of it)
    held = needs.served if needs else build_packages
    served = environments.served_environment(paths["venv"], specs, reqs, held, paths["service"], config)
    if needs:
        for spec in served.added:  # what an earlier smoke test added to the environment kept
            serving.add(needs, spec)
    seconds["served_environment"], mark = _since(mark)
    python_version, packages = venv.describe(paths["venv"])
    if needs:
        serving.describe(needs, build_size, len(packages), serving.size(paths["venv"]))

    meta = metadata.build(src, config.model_name or src.stem, reqs, packages, build_packages, python_version,
                          report, (model_dir / contract.ARTIFACT_FILE).read_bytes(), venv.installer(config))
    meta["build_seconds"] = seconds
    meta.update(metadata.requirement_facts(found, relaxed, build_packages, for_imports))
    if era_day:
        meta["unpinned_as_of"] = era_day
    if chosen:
        meta.update(resolved_as_of=chosen.day, resolved_as_of_why=chosen.why)
    if needs:
        meta.update(served_because_of_modules=needs.modules, left_out_of_serving=needs.left_out)
    _write_record(model_dir, meta, nb, report)

    answer, added = _smoke_test(paths["venv"], model_dir, needs, reqs, config, src.directory)
    seconds["smoke_test"], mark = _since(mark)
    served.keep(added)
    added = served.added + added
    if added:  # the record says what OUT/venv holds now
        meta.update(packages=venv.describe(paths["venv"])[1], left_out_of_serving=needs.left_out,
                    added_by_smoke_test=added)
    _attest(model_dir, meta, src, config, paths["venv"], ran.build_inventory)
    seconds["total"] = round(_process_age(), 2)
    metadata.write_json(model_dir / contract.METADATA_FILE, meta)  # with the smoke test's time
    _sign(model_dir, meta, src, config)
    if answer:
        log(f"example -> {answer[:200]}")
    log(f"Built {meta[contract.META_MODEL_NAME]} ({meta[contract.META_BUILD_ID]}); serve it with: nbs2i serve {out}")
    return meta


@dataclasses.dataclass
class _Ran:
    """The build environment and the notebook's run in it."""
    reqs: list[requirements.Requirement]
    relaxed: list
    added: list[requirements.Requirement]
    era: str | None
    report: execute.Report
    build_packages: list[str]
    needs: serving.Needs | None
    build_size: int
    build_inventory: list[dict]  # for the build environment's SBOM (it is gone once the build ends)


def _attest(model_dir: Path, meta: dict, src: source.Source, config: Config, served: Path,
            build_inventory: list[dict]) -> None:
    """The bills of materials of both environments, into OUT/model and named in metadata.json."""
    name, build_id, python = meta[contract.META_MODEL_NAME], meta[contract.META_BUILD_ID], meta[contract.META_PYTHON]
    for file, environment, dists in ((contract.SBOM_SERVED_FILE, "served", venv.distributions(served)[1]),
                                     (contract.SBOM_BUILD_FILE, "build", build_inventory)):
        metadata.write_json(model_dir / file, sbom.document(dists, environment, name, build_id, python))
    meta["attestations"] = {"sbom_served": contract.SBOM_SERVED_FILE, "sbom_build": contract.SBOM_BUILD_FILE,
                            "provenance": contract.PROVENANCE_FILE,
                            "signature": contract.SIGNATURE_FILE if signing.signing(config) else None}


def _sign(model_dir: Path, meta: dict, src: source.Source, config: Config) -> None:
    """The provenance statement (a DSSE envelope signed by the key, when there is one), then the
    signature over every file of OUT/model: the build's last step."""
    found = provenance.statement(model_dir, src, config, meta)
    if signing.signing(config):
        found = provenance.envelope(found, config.signing_key_file, config.signing_key_password)
    metadata.write_json(model_dir / contract.PROVENANCE_FILE, found)
    if signing.signing(config):
        signing.sign(model_dir, config)


def _in_build_environment(nb: nbformat.NotebookNode, cells: list[cells_mod.Cell], src: source.Source,
                          asked: nearest.Asked, as_of: str | None, paths: dict, config: Config, seconds: dict) -> _Ran:
    """The build environment (as of a day, or not), the notebook's run in it, and what serving needs."""
    mark = time.monotonic()
    with environments.build_environment(asked.requirements, paths["service"], config, asked.floors, as_of,
                                        imports.needed(nb, src), src.directory, asked.relaxed) as built:
        relaxed = asked.relaxed if built.requirements is asked.requirements else asked.floors_relaxed
        seconds["build_environment"], mark = _since(mark)
        report = _run_notebook(nb, cells, src, built.root, paths["model"], config)
        _, build_inventory = venv.distributions(built.root)
        build_packages = venv.listing(build_inventory)
        seconds["notebook"], mark = _since(mark)
        seconds["cells"] = round(sum(o.get("seconds", 0.0) for o in report.outputs.values()), 2)
        needs = _serving_needs(built.root, paths["model"], report, config)
        size = serving.size(built.root)
        seconds["serving_analysis"], mark = _since(mark)
        return _Ran(built.requirements + built.added, relaxed, built.added, built.era, report, build_packages, needs,
                    size, build_inventory)


def _install_hints(exc: InstallError, found: declared.Declared, nb: nbformat.NotebookNode, config: Config) -> str:
    """What a failed install of the build environment may owe to the notebook's age or its repository."""
    hints = ""
    ran = str(nb.metadata.get("language_info", {}).get("version") or "")
    if ran and any(specifiers.has_pin(r.text) for r in exc.failing) and \
            ran.split(".")[:2] != venv.python_version(venv.base_python(config)).split(".")[:2]:
        hints += (f"\n  The notebook last ran on Python {ran} (its metadata says so); its pins are of that time, "
                  "which is what NBS2I_RELAX_PINS=1 is for.")
    # what failed, asked for by the repository's files alone (the notebook never named it)
    theirs = [r for r in exc.failing if all(o.startswith(tuple(found.files)) for o in r.origin.split("; "))]
    if found.files and theirs:
        hints += (f"\n  {', '.join(r.text for r in theirs)}: asked for only by the repository's "
                  f"{' and '.join(found.files)}, which may list what every notebook of the repository needs. To install "
                  "only what this notebook declares (its `requirements`, its install lines, else its imports), set "
                  "NBS2I_REPOSITORY_REQUIREMENTS=0 (--notebook-requirements-only).")
    return hints


def _write_record(model_dir: Path, meta: dict, nb: nbformat.NotebookNode, report: execute.Report) -> None:
    """metadata.json, openapi.json and the executed notebook in OUT/model."""
    metadata.write_json(model_dir / contract.METADATA_FILE, meta)
    metadata.write_json(model_dir / contract.OPENAPI_FILE, openapi.build_spec(meta))
    nbformat.write(metadata.executed_notebook(nb, report), str(model_dir / contract.EXECUTED_NOTEBOOK_FILE))


def _serving_needs(env: Path, model_dir: Path, report: execute.Report, config: Config) -> serving.Needs | None:
    """NBS2I_MINIMAL_ENV (default): what the artifact uses; None serves every requirement instead."""
    if not config.minimal_env:
        log("NBS2I_MINIMAL_ENV=0: the served environment gets every requirement of the notebook")
        return None
    log("Finding what serving needs: the modules the model uses, loaded in a fresh process")
    return serving.needs(serving.probe(env, model_dir, report.data), list(config.serve_requirements))


def _smoke_test(target: Path, model_dir: Path, needs: serving.Needs | None, reqs: list[requirements.Requirement],
                config: Config, notebook_dir: Path) -> tuple[str, list[str]]:
    """Load the model and answer its example in the served environment; (answer, packages added).
    A module it lacks that the build environment has (loaded lazily, or only by the example)
    joins the served environment, pinned; then the smoke test runs again."""
    added: list[str] = []
    for _ in range(MAX_ADDED_FOR_SERVING + 1):
        log("Smoke test: loading the model in a fresh process of the served environment")
        try:
            providers = needs.providers if needs else None
            return smoke.run(venv.python_of(target), model_dir, SMOKE_TIMEOUT_S, providers, notebook_dir), added
        except SmokeTestError as exc:
            spec = needs.on_demand.get(exc.missing) if needs and exc.missing else None
            if spec is None:
                raise
            log(f"Serving also needs {spec}: the model imported '{exc.missing}' while loading or answering its "
                "example; adding it")
            reuse.forget(target)  # changed from here on: reusable again only once the smoke test passes
            environments.install_served(target, [spec], reqs, needs.served, config, f"into the served environment: {spec}")
            serving.add(needs, spec)
            added.append(spec)
            del needs.on_demand[exc.missing]
    raise SmokeTestError(f"The served environment still lacked modules after adding {MAX_ADDED_FOR_SERVING} packages "
                         "for the smoke test. Serve every requirement with NBS2I_MINIMAL_ENV=0.")


def _process_age() -> float:
    """Seconds since this process started (the CLI's own start included), from /proc on Linux."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return round(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, ValueError, IndexError):
        return 0.0


def _since(mark: float) -> tuple[float, float]:
    """(seconds since mark, rounded; a new mark) for the stage timings in metadata.json."""
    now = time.monotonic()
    return round(now - mark, 2), now


def _run_notebook(nb: nbformat.NotebookNode, cells: list[cells_mod.Cell], src: source.Source, env: Path,
                  model_dir: Path, config: Config) -> execute.Report:
    """Pass 2: every cell, with IPython, in the build environment; the artifact lands in model_dir."""
    with tempfile.TemporaryDirectory(prefix="nbs2i-script-") as tmp:
        script = Path(tmp) / f"{src.stem}.py"
        script.write_text(convert.to_script(nb, src, model_dir, {"reference": config.reference}), encoding="utf-8")
        log(f"Running the notebook's {len(cells)} code cells with IPython in {src.directory} "
            f"(time limit {config.timeout:g} s)")
        report = execute.run(script, env, src, cells, config.timeout)
    _log_answers(report.checked)
    return report


def _log_answers(checked: dict) -> None:
    if "reference" in checked:
        ref = checked["reference"]
        count = len(ref["features"])
        log(f"Drift profile of {ref['why'].removeprefix('reference data: ')}: {count} feature{'s' * (count != 1)}"
            + (", and the model's answers on them" if ref["prediction"] else "") + " (OUT/model/reference.json)")
    elif "reference_off" in checked:
        log(checked["reference_off"][:1].upper() + checked["reference_off"][1:])
    if "nondeterministic" in checked:
        first, again = (answers.shown(a, 80) for a in checked["nondeterministic"])
        log(f"predictor(example) answered {first}, then {again}: it is not deterministic, so neither the served "
            "environment's answer nor batch_predictor's is compared with the notebook's")
    if "batch_checked" in checked:
        rows = checked["batch_checked"]["rows_from"]
        count = checked["batch_checked"]["samples"]
        log(f"batch_predictor answers as predictor does on {count} sample{'s' * (count != 1)} (the example"
            + (f" and rows of {rows!r})" if rows else ")"))


def _copy_service(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(skeleton_dir(), target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
