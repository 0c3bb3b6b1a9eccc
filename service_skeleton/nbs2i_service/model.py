"""A loaded model: the notebook's predictor, validator and schema behind one interface.

The HTTP service, the CLI's smoke test and other programs (load_model) all use this,
so a sample is checked the same way everywhere.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from . import artifact
from .contract import (
    ARTIFACT_FILE, BATCH_PREDICTOR, META_INPUT_SCHEMA, META_MODEL_NAME, META_PYTHON,
    METADATA_FILE, PREDICTOR, VALIDATOR,
)
from .errors import ModelLoadError, ServiceError


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


class Model:
    """The notebook's functions plus metadata; predict() validates before it predicts."""

    def __init__(self, objects: Mapping[str, Any], metadata: Mapping[str, Any]):
        self.metadata = dict(metadata)
        self.name: str = str(self.metadata.get(META_MODEL_NAME) or "model")
        self.predictor: Callable[[Any], Any] = objects[PREDICTOR]
        self.validator: Callable[[Any], Any] | None = objects.get(VALIDATOR)
        self.batch_predictor: Callable[[list], Any] | None = objects.get(BATCH_PREDICTOR)
        self.input_schema = self.metadata.get(META_INPUT_SCHEMA)
        self._schema_validator = _schema_validator(self.input_schema)

    def check(self, sample: Any) -> None:
        """Raise SampleRejected if the schema or the validator rejects sample."""
        if self._schema_validator is not None:
            error = _best_schema_error(self._schema_validator, sample)
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

    def predict_batch(self, samples: list) -> list:
        """Check every sample, then score them all (batch_predictor when the notebook has one)."""
        rejected = []
        for index, sample in enumerate(samples):
            try:
                self.check(sample)
            except SampleRejected as exc:
                rejected.append({"index": index, "message": exc.message, "path": exc.path})
        if rejected:
            raise BatchRejected(rejected)
        if self.batch_predictor is not None:
            predictions = list(self.batch_predictor(samples))
            if len(predictions) != len(samples):
                raise ValueError(
                    f"batch_predictor returned {len(predictions)} predictions for {len(samples)} samples"
                )
            return predictions
        return [self.predictor(sample) for sample in samples]


    def score(self, samples: list) -> list:
        """Predictions for samples already checked, or the exception each one raised.

        For batch scoring and the stream worker: batch_predictor when the notebook has one
        (a batch it fails on is scored one by one, to find the failing samples).
        """
        if self.batch_predictor is not None and samples:
            try:
                predictions = list(self.batch_predictor(samples))
                if len(predictions) == len(samples):
                    return predictions
            except Exception:
                pass
        results = []
        for sample in samples:
            try:
                results.append(self.predictor(sample))
            except Exception as exc:
                results.append(exc)
        return results


def _schema_validator(schema: Any):
    if schema is None:
        return None
    import jsonschema  # only models with an input_schema need it

    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _best_schema_error(validator, sample: Any) -> SampleRejected | None:
    import jsonschema

    error = jsonschema.exceptions.best_match(validator.iter_errors(sample))
    if error is None:
        return None
    path = "$" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return SampleRejected(f"input_schema: {error.message} at {path}", path=path)


def read_metadata(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / METADATA_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path} is missing. Build the model first: nbs2i build SOURCE --out OUT.") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} cannot be read ({exc}). Rebuild the model.") from None


def load_model(path: str | Path, signing_key: bytes | None = None) -> Model:
    """Load a built model from OUT or OUT/model after checking its sha256 (and HMAC with a key).

    This is the supported way for another program in the model's venv to use a model:
        from nbs2i_service.model import load_model
        model = load_model("/opt/app-root"); model.predict(sample)
    """
    model_dir = Path(path)
    if not (model_dir / METADATA_FILE).exists() and (model_dir / "model" / METADATA_FILE).exists():
        model_dir = model_dir / "model"
    metadata = read_metadata(model_dir)
    artifact_path = model_dir / ARTIFACT_FILE
    try:
        data = artifact_path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{artifact_path} cannot be read ({exc.strerror}). Rebuild the model.") from None
    artifact.verify(data, metadata, str(artifact_path), signing_key)
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
    return Model(objects, metadata)
