"""Drift, measured live: every scored sample against the reference profile (profile.py).

Each sample becomes one bin index per feature (0 missing, 1 other: a wrong type or an unseen
category, then the profile's bins or categories), and its prediction one more. The last
NBS2I_DRIFT_WINDOW of them live in a ring in one shared memory map made before gunicorn
forks, with the counts per bin beside it, so every worker adds to one window (as metrics.py
does) and reading it costs the bins, not the window. Per feature, the population stability
index of the window against the reference: sum over bins of (w - r) * ln(w / r), shares
floored at 1e-4; above NBS2I_DRIFT_THRESHOLD (0.25, the usual "significant shift") the
feature has drifted, once the window holds MIN_SAMPLES samples (an empty bin of a window of
30 costs 0.7 on its own: small windows are noise). Nothing a client sends can raise here: a value that fits no bin is
"other".
"""
from __future__ import annotations

import logging
import math
import mmap
import multiprocessing
from bisect import bisect_left
from typing import Any, Mapping

from .logs import EveryMinute
from .metrics import label
from .profile import category, is_missing, is_number

FLOOR = 1e-4
MIN_SAMPLES = 100  # fewer samples than this in the window: PSI is shown, no feature is called drifted
UNSCORED = 255  # a prediction slot of a sample whose predictor failed: counted nowhere
_log = EveryMinute(logging.getLogger("nbs2i"))


class Bins:
    """One feature's bins, from its profile entry."""

    def __init__(self, spec: Mapping[str, Any]):
        self.name, self.kind = str(spec["name"]), spec["kind"]
        self.numeric = self.kind == "numeric"
        self.edges = [float(e) for e in spec.get("edges", [])]
        self.values = {category(v): i for i, v in enumerate(spec.get("values", []))}
        self.reference = [float(spec["missing"]), float(spec.get("other", 0.0)), *map(float, spec["shares"])]

    def index(self, value: Any) -> int:
        if type(value) is float and self.numeric and value == value:  # the common case first: a plain number
            return 2 + bisect_left(self.edges, value) if value - value == 0 else 1
        if is_missing(value):
            return 0
        if self.numeric:
            return 2 + bisect_left(self.edges, float(value)) if is_number(value) else 1
        try:
            return 2 + self.values[category(value)]
        except (KeyError, TypeError):
            return 1

    def labels(self) -> list[str]:
        if self.numeric:
            cuts = [f"{e:g}" for e in self.edges]
            inner = [f"({a}, {b}]" for a, b in zip(cuts, cuts[1:])]
            middle = [f"<= {cuts[0]}", *inner, f"> {cuts[-1]}"] if cuts else ["all"]
            return ["missing", "other", *middle]
        return ["missing", "other", *(str(v) for v in self.values)]


def psi(reference: list[float], counts: list[float]) -> float:
    total = sum(counts)
    if not total:
        return 0.0
    value = 0.0
    for r, c in zip(reference, counts):
        r, w = max(r, FLOOR), max(c / total, FLOOR)
        value += (w - r) * math.log(w / r)
    return value


class Drift:
    def __init__(self, profile: Mapping[str, Any], window: int, threshold: float, model_name: str):
        self.model_name, self.window, self.threshold = model_name, window, threshold
        self.variable, self.rows = profile.get("variable"), profile.get("rows")
        self.features = [Bins(f) for f in profile["features"]]
        self.by_key = profile.get("sample") != "list"  # dict samples: by name; list samples: by position
        self.prediction = Bins(profile["prediction"]) if profile.get("prediction") else None
        self.columns = self.features + ([self.prediction] if self.prediction else [])
        self.width = max(len(b.reference) for b in self.columns)
        n = len(self.columns)
        # doubles: the cursor, the samples in the window, the counts per column and bin; then the ring
        # of the window's bin indices, a byte per column of each sample
        ring = (2 + n * self.width) * 8
        self._map = mmap.mmap(-1, ring + window * n)  # anonymous, MAP_SHARED: shared across fork
        self._counts = memoryview(self._map)[:ring].cast("d")
        self._bins = memoryview(self._map)[ring:]
        self._lock = multiprocessing.Lock()

    def _row(self, sample: Any, prediction: Any, scored: bool) -> bytes:
        if self.by_key:
            get = sample.get if isinstance(sample, dict) else (lambda name: None)
            values = [get(b.name) for b in self.features]
        else:
            items = sample if isinstance(sample, list) else []
            values = [items[i] if i < len(items) else None for i in range(len(self.features))]
        row = [b.index(v) for b, v in zip(self.features, values)]
        if self.prediction is not None:
            row.append(self.prediction.index(prediction) if scored else UNSCORED)
        return bytes(row)

    def observe(self, samples: list, predictions: list | None, scored: list[bool] | None = None) -> None:
        """Samples the schema and the validator accepted, with their predictions (scored[i] False:
        the predictor failed on sample i, which then counts for its features only)."""
        try:
            rows = [self._row(s, predictions[i] if predictions is not None else None,
                              predictions is not None and (scored is None or scored[i])) for i, s in enumerate(samples)]
        except Exception as exc:  # a sample no bin can take: never the client's problem
            _log("drift: a sample could not be binned (%s); it was left out of the window", exc)
            return
        n, counts, ring = len(self.columns), self._counts, self._bins
        with self._lock:
            for row in rows:
                cursor = int(counts[0])
                slot = (cursor % self.window) * n
                if counts[1] >= self.window:
                    for f, old in enumerate(ring[slot:slot + n]):
                        if old != UNSCORED:
                            counts[2 + f * self.width + old] -= 1
                else:
                    counts[1] += 1
                ring[slot:slot + n] = row
                for f, new in enumerate(row):
                    if new != UNSCORED:
                        counts[2 + f * self.width + new] += 1
                counts[0] = cursor + 1

    def report(self) -> dict[str, Any]:
        """What /drift answers, the page draws and `nbs2i drift` prints."""
        with self._lock:
            values = list(self._counts)
        filled = int(values[1])

        def one(f: int, bins: Bins) -> dict[str, Any]:
            counts = values[2 + f * self.width:2 + f * self.width + len(bins.reference)]
            total = sum(counts)
            value = psi(bins.reference, counts)
            drifted = total >= min(MIN_SAMPLES, self.window) and value > self.threshold
            return {"name": bins.name, "kind": bins.kind, "psi": round(value, 6), "drifted": drifted,
                    "samples": int(total), "bins": bins.labels(), "reference": bins.reference,
                    "window": [c / total if total else 0.0 for c in counts]}

        features = [one(f, b) for f, b in enumerate(self.features)]
        return {"model": self.model_name, "enabled": True, "threshold": self.threshold,
                "window": {"size": self.window, "samples": filled},
                "reference": {"variable": self.variable, "rows": self.rows},
                "features": features, "drifted": [f["name"] for f in features if f["drifted"]],
                "prediction": one(len(self.features), self.prediction) if self.prediction else None}

    def render(self) -> list[str]:
        """The Prometheus lines: nbs2i_feature_drift, nbs2i_prediction_drift, nbs2i_drift_window_samples."""
        report, model = self.report(), label(self.model_name)
        lines = ["# HELP nbs2i_feature_drift Population stability index of a feature's window against the "
                 "notebook's training data.", "# TYPE nbs2i_feature_drift gauge"]
        lines += [f'nbs2i_feature_drift{{model="{model}",feature="{label(f["name"])}"}} {f["psi"]!r}'
                  for f in report["features"]]
        if report["prediction"] is not None:
            lines += ["# HELP nbs2i_prediction_drift Population stability index of the window's predictions against "
                      "the model's answers on its training data.", "# TYPE nbs2i_prediction_drift gauge",
                      f'nbs2i_prediction_drift{{model="{model}"}} {report["prediction"]["psi"]!r}']
        lines += ["# HELP nbs2i_drift_window_samples Samples in the drift window.",
                  "# TYPE nbs2i_drift_window_samples gauge",
                  f'nbs2i_drift_window_samples{{model="{model}"}} {report["window"]["samples"]}']
        return lines





def for_model(model: Any, config: Any) -> tuple[Drift | None, str]:
    """The live drift window of a loaded model (a Model, a Config), or None and why there is none."""
    if model is None:
        return None, "the model is not loaded yet"
    if not config.drift:
        return None, "NBS2I_DRIFT=0 turned drift off"
    if model.profile is None:
        return None, str(model.metadata.get("reference_off") or "the build kept no reference profile")
    return Drift(model.profile, config.drift_window, config.drift_threshold, model.name), ""
