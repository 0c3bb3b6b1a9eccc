"""A loaded model: the notebook's predictor, validator and schema behind one interface.

The HTTP service, the CLI's smoke test and other programs (load_model) all use this,
so a sample is checked the same way everywhere.
"""
from __future__ import annotations

import hmac
import json
import logging
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Mapping

from . import artifact, schema, signature
from .contract import (
    ARTIFACT_FILE, BATCH_PREDICTOR, META_EXAMPLE, META_INPUT_SCHEMA, META_MODEL_NAME, META_PYTHON, META_REFERENCE,
    METADATA_FILE, PREDICTOR, VALIDATOR,
)
from .errors import ModelLoadError, ServiceError
from .logs import EveryMinute

_FALLBACK_LOG = EveryMinute(logging.getLogger("nbs2i"))


class SampleRejected(ServiceError):
    """A sample failed the validator or the input schema."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = path


class BatchRejected(ServiceError):
    """Some samples of a batch were rejected: [(index, message, path)]."""

    def __init__(self, rejected: list[dict[str, Any]]):
        super().__init__(f"{len(rejected)} sample(s) rejected")
        self.rejected = rejected


class BatchFailed(ServiceError):
    """The predictor raised on some samples of a batch: [(index, exception)] of the samples."""

    def __init__(self, failed: list[tuple[int, BaseException]], results: list):
        super().__init__(f"{len(failed)} of {len(results)} sample(s) failed")
        self.failed, self.results, self.total = failed, results, len(results)


class Model:
    """The notebook's functions plus metadata; predict() validates before it predicts."""

    def __init__(self, objects: Mapping[str, Any], metadata: Mapping[str, Any], infer_schema: bool = False):
        """infer_schema: without an input_schema, check samples against the example's shape (schema.py)."""
        self.metadata = dict(metadata)
        self.name: str = str(self.metadata.get(META_MODEL_NAME) or "model")
        self.predictor: Callable[[Any], Any] = objects[PREDICTOR]
        self.validator: Callable[[Any], Any] | None = objects.get(VALIDATOR)
        self.batch_predictor: Callable[[list], Any] | None = objects.get(BATCH_PREDICTOR)
        self.input_schema = self.metadata.get(META_INPUT_SCHEMA)
        self._schema = _Schema(self.input_schema) if self.input_schema is not None else None
        self.sample_schema = self.input_schema  # what a sample is checked against: given, or derived
        if self._schema is None and infer_schema and META_EXAMPLE in self.metadata:
            self.sample_schema = schema.from_example(self.metadata[META_EXAMPLE])
            self._schema = _Schema(self.sample_schema, "the shape of the notebook's example", derived=True)
        self.valid_sample = _valid_sample(self.metadata)
        self.directory: Path | None = None  # the model folder, when loaded from one (load_model)
        self.profile: dict[str, Any] | None = None  # the training data's profile (drift.py), when the build made one

    def check(self, sample: Any) -> None:
        """Raise SampleRejected if the schema or the validator rejects sample."""
        if self._schema is not None:
            error = self._schema.rejection(sample)
            if error is not None:
                raise error
        if self.validator is None:
            return
        try:
            ok = self.validator(sample)
        except Exception as exc:  # the notebook's validator raising means "rejected"
            raise SampleRejected(f"validator raised {type(exc).__name__}: {exc}") from None
        if not ok:
            raise SampleRejected(f"rejected by validator (it returned {ok!r})")

    def predict(self, sample: Any) -> Any:
        self.check(sample)
        return self.predictor(sample)

    def rejections(self, samples: list) -> list[dict[str, Any]]:
        """[{index, message, path}] of every sample the schema or the validator rejects."""
        rejected = []
        for index, sample in enumerate(samples):
            try:
                self.check(sample)
            except SampleRejected as exc:
                rejected.append({"index": index, "message": exc.message, "path": exc.path})
        return rejected

    def predict_batch(self, samples: list, fallback: Callable[[int], None] | None = None) -> list:
        """Check every sample (BatchRejected lists those rejected), then score them all; a sample
        whose predictor raised raises BatchFailed. The rule of every batch endpoint (docs/api.md)."""
        rejected = self.rejections(samples)
        if rejected:
            raise BatchRejected(rejected)
        results = self.score(samples, fallback)
        failed = [(i, r) for i, r in enumerate(results) if isinstance(r, Exception)]
        if failed:
            raise BatchFailed(failed, results)
        return results

    def score(self, samples: list, fallback: Callable[[int], None] | None = None) -> list:
        """Predictions for samples already checked, or the exception each one raised.

        batch_predictor when the notebook has one. A batch it raises on (or answers with the
        wrong count) is scored again sample by sample with predictor, so only the samples that
        fail on their own fail; the log says so once a minute with the traceback, and
        fallback(len(samples)) counts it (nbs2i_batch_fallbacks_total).
        """
        if self.batch_predictor is not None and len(samples) > 1:
            try:
                predictions = list(self.batch_predictor(samples))
                if len(predictions) != len(samples):
                    raise ValueError(f"batch_predictor returned {len(predictions)} predictions for {len(samples)} "
                                     "samples; return one per sample, in order")
                return predictions
            except Exception:
                _FALLBACK_LOG("batch_predictor failed on a batch of %d samples; they were scored one by one with "
                              "predictor:\n%s", len(samples), traceback.format_exc().rstrip())
                if fallback is not None:
                    fallback(len(samples))
        results = []
        for sample in samples:
            try:
                results.append(self.predictor(sample))
            except Exception as exc:
                results.append(exc)
        return results


def _valid_sample(metadata: Mapping[str, Any]) -> str:
    """What a valid sample looks like, from the notebook's example or input_schema ('' without either)."""
    for key, text in ((META_EXAMPLE, "A valid sample looks like the notebook's example: "),
                      (META_INPUT_SCHEMA, "A valid sample matches the notebook's input_schema: ")):
        if key in metadata:
            shown = json.dumps(metadata[key], separators=(", ", ": "), default=str)
            return text + (shown if len(shown) <= 300 else shown[:297] + "...") + "."
    return ""


class _Schema:
    """input_schema, checked fast on the accept path and explained by jsonschema on rejection.

    A schema without "$schema" is read as draft-07. For drafts 4, 6 and 7 a compiled
    fastjsonschema validator (about 20x faster) accepts valid samples; jsonschema, the
    reference, words the error, and has the last word when the two disagree. A schema the
    service made itself (derived: the example's shape, draft-07) needs no check, so
    jsonschema (15 MB of every worker's memory) is imported only to word a rejection.
    """

    def __init__(self, schema: Any, label: str = "input_schema", derived: bool = False):
        self.schema, self.label, self.validator, self.fast = schema, label, None, None
        if derived:
            import fastjsonschema

            self.fast = fastjsonschema.compile(schema)
            return
        import jsonschema  # only models with an input_schema need it at load

        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        cls.check_schema(schema)
        self.validator = cls(schema)
        if cls in (jsonschema.Draft4Validator, jsonschema.Draft6Validator, jsonschema.Draft7Validator):
            try:
                import fastjsonschema

                self.fast = fastjsonschema.compile(schema)
            except Exception:  # not installed, or a schema it cannot compile: jsonschema alone
                self.fast = None

    def rejection(self, sample: Any) -> SampleRejected | None:
        if self.fast is not None:
            try:
                self.fast(sample)
                return None
            except Exception:
                pass
        import jsonschema

        if self.validator is None:
            self.validator = jsonschema.Draft7Validator(self.schema)
        error = jsonschema.exceptions.best_match(self.validator.iter_errors(sample))
        if error is None:
            return None
        path = "$" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        return SampleRejected(f"{self.label}: {error.message} at {path}", path=path)


def read_metadata(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / METADATA_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path} is missing. Build the model first: nbs2i build SOURCE --out OUT.") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} cannot be read ({exc}). Rebuild the model.") from None


def load_model(path: str | Path, verify_key: str | Path | None = None, infer_schema: bool = False,
               verify_chain: str | Path | None = None) -> Model:
    """Load a built model from OUT or OUT/model: its signature first when a public key (or a
    certificate chain) is given, then its sha256, and only then is anything unpickled.

    This is the supported way for another program in the model's venv to use a model:
        from nbs2i_service.model import load_model
        model = load_model("/opt/app-root", verify_key="public.pem"); model.predict(sample)
    """
    if isinstance(verify_key, bytes) and not verify_key.lstrip().startswith(b"-----BEGIN"):
        raise ModelLoadError("load_model's second argument is the PEM public key the model was signed for (a path); "
                             "the HMAC key it once took is retired (NBS2I_SIGNING_KEY).")
    model_dir = Path(path)
    if not (model_dir / METADATA_FILE).exists() and (model_dir / "model" / METADATA_FILE).exists():
        model_dir = model_dir / "model"
    signature.verify(model_dir, Path(verify_key) if verify_key else None, Path(verify_chain) if verify_chain else None)
    metadata = read_metadata(model_dir)
    artifact_path = model_dir / ARTIFACT_FILE
    try:
        data = artifact_path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{artifact_path} cannot be read ({exc.strerror}). Rebuild the model.") from None
    artifact.verify(data, metadata, str(artifact_path))
    built_for = str(metadata.get(META_PYTHON, ""))
    running = "%d.%d" % sys.version_info[:2]
    if built_for and not built_for.startswith(running + "."):
        raise ModelLoadError(
            f"{artifact_path} was built with Python {built_for} but this is Python {running}. "
            "Serve it from the venv the build made (OUT/venv)."
        )
    try:
        objects = artifact.loads(data)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"{artifact_path} cannot be unpickled ({type(exc).__name__}: {exc}). "
            "A package the model needs may be missing from the venv; add it to requirements."
        ) from exc
    model = Model(objects, metadata, infer_schema)
    model.directory = model_dir
    model.profile = _profile(model_dir, metadata)
    return model


def _profile(model_dir: Path, metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """The reference profile metadata.json names, after its sha256 matches."""
    entry = metadata.get(META_REFERENCE)
    if not isinstance(entry, dict):
        return None
    path = model_dir / str(entry.get("file"))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{path} cannot be read ({exc.strerror}), though metadata.json names it. Rebuild the "
                             "model.") from None
    if not isinstance(entry.get("sha256"), str) or not hmac.compare_digest(entry["sha256"], artifact.sha256_hex(data)):
        raise ModelLoadError(f"{path}: its sha256 is {artifact.sha256_hex(data)} but metadata.json records "
                             f"{entry.get('sha256')}. The model was changed after the build; rebuild it with `nbs2i build`.")
    return json.loads(data)
