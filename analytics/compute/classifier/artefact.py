"""The model artefact on disk: `<folder>/<version>/model.joblib` with `sidecar.json`, and a
`CURRENT` file in the folder naming the version in use.

Pickles execute code when loaded, so only a file inside the configured folder is ever loaded,
and only when its SHA-256 equals the one the sidecar recorded at training time. A sidecar whose
scikit-learn version, feature names or format differ from the running code's is a mismatch: the
loader says why and returns nothing, and the caller skips suggestions instead of crashing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn

from analytics.compute.classifier.features import FEATURE_NAMES
from analytics.compute.classifier.training import PeakClassifier

MODEL_FILE = "model.joblib"
SIDECAR_FILE = "sidecar.json"
CURRENT_FILE = "CURRENT"
# 2: calibrated classifier (isotonic maps), scale-free shape features.
FORMAT = 2
_VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ModelUnavailableError(Exception):
    """No usable model: none trained, or its files do not match the running code."""


@dataclass(frozen=True)
class LoadedModel:
    version: str
    classifier: PeakClassifier
    sidecar: dict[str, Any]

    @property
    def categories(self) -> tuple[str, ...]:
        return self.classifier.categories


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    Path(temp).replace(path)


def artefact_save(
    folder: Path, classifier: PeakClassifier, sidecar: dict[str, Any], *, version_prefix: str
) -> str:
    """Write model and sidecar under a new version folder and make it current. The version is
    `version_prefix` plus the first 12 hex digits of the model file's SHA-256, so the same
    model always gets the same version. Returns the version."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".staging-"))
    model_path = staging / MODEL_FILE
    joblib.dump(classifier, model_path, compress=3)
    checksum = _sha256(model_path)
    version = f"{version_prefix}{checksum[:12]}"
    if not _VERSION_PATTERN.match(version):
        raise ValueError(f"invalid model version {version!r}")
    sidecar = {
        **sidecar,
        "format": FORMAT,
        "version": version,
        "model_file": MODEL_FILE,
        "model_sha256": checksum,
        "model_bytes": model_path.stat().st_size,
        "classes": list(classifier.categories),
        "feature_names": list(classifier.feature_names),
    }
    (staging / SIDECAR_FILE).write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    target = folder / version
    if target.exists():
        # The same model again: keep the first copy, refresh its sidecar (new metrics/time).
        (staging / MODEL_FILE).unlink()
        (staging / SIDECAR_FILE).replace(target / SIDECAR_FILE)
        staging.rmdir()
    else:
        staging.replace(target)
    _write_atomic(folder / CURRENT_FILE, version + "\n")
    return version


def current_version(folder: Path) -> str | None:
    """The version named by `CURRENT`, or None when there is none."""
    try:
        version = (folder / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return version or None


def sidecar_read(folder: Path, version: str) -> dict[str, Any]:
    if not _VERSION_PATTERN.match(version):
        raise ModelUnavailableError(f"invalid model version {version!r}")
    path = folder / version / SIDECAR_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelUnavailableError(f"cannot read {path}: {error}") from error
    if not isinstance(data, dict):
        raise ModelUnavailableError(f"{path} is not a JSON object")
    return data


def sidecar_problems(sidecar: dict[str, Any]) -> list[str]:
    """Why a sidecar does not fit the running code (empty when it does)."""
    problems = []
    if sidecar.get("format") != FORMAT:
        problems.append(f"format {sidecar.get('format')!r}, expected {FORMAT}")
    if sidecar.get("versions", {}).get("scikit-learn") != sklearn.__version__:
        problems.append(
            f"trained with scikit-learn {sidecar.get('versions', {}).get('scikit-learn')!r}, "
            f"running {sklearn.__version__}"
        )
    if sidecar.get("feature_names") != list(FEATURE_NAMES):
        problems.append("feature names differ from the running code's")
    if not sidecar.get("classes"):
        problems.append("no classes")
    return problems


def artefact_load(folder: Path, version: str | None = None) -> LoadedModel:
    """Load the current (or the given) model after checking its sidecar and checksum. Raises
    ModelUnavailableError with the reason otherwise."""
    folder = folder.resolve()
    version = version or current_version(folder)
    if version is None:
        raise ModelUnavailableError(f"no model trained yet in {folder}")
    sidecar = sidecar_read(folder, version)
    problems = sidecar_problems(sidecar)
    if problems:
        raise ModelUnavailableError(f"model {version}: " + "; ".join(problems))
    path = (folder / version / MODEL_FILE).resolve()
    if path.parent.parent != folder:
        raise ModelUnavailableError(f"model {version} lies outside {folder}")
    try:
        checksum = _sha256(path)
    except OSError as error:
        raise ModelUnavailableError(f"cannot read {path}: {error}") from error
    if checksum != sidecar.get("model_sha256"):
        raise ModelUnavailableError(f"model {version}: file checksum does not match its sidecar")
    classifier = joblib.load(path)
    if not isinstance(classifier, PeakClassifier) or list(classifier.categories) != list(
        sidecar["classes"]
    ):
        raise ModelUnavailableError(
            f"model {version}: not a peak classifier of the sidecar's classes"
        )
    return LoadedModel(version=version, classifier=classifier, sidecar=sidecar)


def probabilities(model: LoadedModel, features: np.ndarray) -> list[dict[str, float]]:
    """Per row of `features`, {category: probability} for every category the model knows."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        proba = model.classifier.predict_proba(features)
    return [
        {c: round(float(p), 4) for c, p in zip(model.categories, row, strict=True)} for row in proba
    ]
