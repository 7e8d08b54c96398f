"""The stored results of a run's finished studies, in ``.studies/`` of the output folder, by which a
later run resumes: each study's row (JSON) and preview (NPZ), the files named by the study."""

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

import gpuimg

from . import outputs


def _stored(cache: Path, study: str, suffix: str) -> Path:
    """The file of a study's stored result: named by the study, but a folder name (``--keep-ids``) too
    long for a file name with the temporary file's prefix and suffix (see :func:`outputs.atomic`) is cut,
    and a digest of it keeps it apart from the other studies. Never a pseudonym's form."""
    name = study.encode()
    if len(name) > _LONGEST_NAME:
        study = f"{name[:150].decode(errors='ignore')}~{hashlib.sha256(name).hexdigest()[:16]}"
    return cache / f"{study}{suffix}"


#: Most bytes of a study's name in the name of its stored result's file (most file systems take 255).
_LONGEST_NAME = 200


def _cached(cache: Path, study: str) -> dict | None:
    """A study's stored result; None if absent or unreadable (cut short by a crash: it is redone)."""
    path = _stored(cache, study, ".json")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _store(cache: Path, result: dict) -> dict:
    """Store a study's ``result`` (its row as JSON, its preview as NPZ), and return the row's record as
    :func:`_cached` will read it back, so that a resumed run sees exactly what an uninterrupted one does,
    without reading the file again: the record in JSON's own types (:func:`outputs._plain`: lists, str
    keys, finite floats, None for NaN), which ``json.loads`` of the text written gives back equal, type
    for type (a float's JSON text is its shortest round-trip repr).

    The JSON is compact: with an indent, the standard library's encoder runs in Python (three times as
    long as its C encoder for a study's 70 values); nobody reads these files but a later run.
    """
    # Not flushed to disk: a result lost in a power cut is missing or unreadable, and computed again.
    if "preview" in result:
        outputs.write_npz(_stored(cache, result["study"], ".npz"), result["preview"], durable=False)
    record = {**{k: v for k, v in result.items() if k != "preview"}, "gpuimg": gpuimg.__version__}
    record = outputs._plain(record)
    text = json.dumps(record) + "\n"  # outputs.json_text(record, indent=None), record already plain
    outputs.write_bytes(_stored(cache, result["study"], ".json"), text.encode(), durable=False)
    return record


def _preview(cache: Path, study: str) -> dict | None:
    path = _stored(cache, study, ".npz")
    try:
        with np.load(path) as arrays:
            return dict(arrays)
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
