"""Model artefacts on disk: ``<root>/<model_id>/v<version>/model.joblib`` plus
``manifest.json`` (family, task, version, input columns, library versions and
the sha256 of the artefact file). Loading checks both and refuses a file that
was changed or written by other library versions."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import joblib

from crlm import config

ARTEFACT_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
LIBRARIES = ("sklearn", "sksurv", "lifelines", "torch", "numpy")


class ModelError(RuntimeError):
    """A model cannot be loaded or used; the message says which and why."""


def library_versions() -> dict[str, str]:
    import importlib

    out = {}
    for name in LIBRARIES:
        try:
            out[name] = str(importlib.import_module(name).__version__)
        except Exception:  # a library that is not installed
            out[name] = "absent"
    return out


def artefact_root(artefact_dir=None) -> Path:
    return Path(artefact_dir) if artefact_dir is not None else config.MODELS_DIR


def artefact_path(model_id: str, version: int, artefact_dir=None) -> Path:
    return artefact_root(artefact_dir) / model_id / f"v{int(version)}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_artefact(model, *, model_id: str, version: int, family: str, task: str,
                  features: list[str], artefact_dir=None, extra: dict | None = None) -> Path:
    """Write the model and its manifest; replaces an older folder of the same version."""
    folder = artefact_path(model_id, version, artefact_dir)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".v{int(version)}-", dir=folder.parent))
    try:
        joblib.dump(model, tmp / ARTEFACT_FILE, compress=1)
        manifest = {
            "model_id": model_id, "version": int(version), "family": family, "task": task,
            "features": list(features), "libraries": library_versions(),
            "sha256": sha256_file(tmp / ARTEFACT_FILE), **(extra or {}),
        }
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise ModelError(f"no model manifest at {path}")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"model manifest {path} is unreadable: {exc}") from None


def load_artefact(folder: Path, *, expect_model_id: str | None = None,
                  expect_version: int | None = None):
    """The model saved in ``folder`` after checking its manifest; ``ModelError`` if not."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    name = f"{manifest.get('model_id')} v{manifest.get('version')}"
    if expect_model_id is not None and manifest.get("model_id") != expect_model_id:
        raise ModelError(f"artefact at {folder} is {manifest.get('model_id')}, "
                         f"not {expect_model_id}")
    if expect_version is not None and int(manifest.get("version", -1)) != int(expect_version):
        raise ModelError(f"artefact at {folder} is version {manifest.get('version')}, "
                         f"not {expect_version}")
    path = folder / ARTEFACT_FILE
    if not path.is_file():
        raise ModelError(f"model {name}: artefact file {path} is missing")
    digest = sha256_file(path)
    if digest != manifest.get("sha256"):
        raise ModelError(f"model {name}: artefact file {path} does not match its manifest "
                         "(sha256 differs); it was changed after training — retrain the model")
    saved, now = manifest.get("libraries", {}), library_versions()
    mismatched = [f"{lib} {saved.get(lib)} (installed {now[lib]})" for lib in LIBRARIES
                  if saved.get(lib) != now[lib]]
    if mismatched:
        raise ModelError(f"model {name} was saved with other library versions: "
                         + ", ".join(mismatched) + "; retrain the model with this installation")
    try:
        return joblib.load(path), manifest
    except Exception as exc:
        raise ModelError(f"model {name}: artefact {path} cannot be read: {exc}") from None
