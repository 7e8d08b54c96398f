"""The pipeline spec: a TOML file read and checked in full before any study is touched.

A spec has up to seven tables; every key is optional except where said::

    [input]                     # which series of each study folder
    modality = "CT"             # CT, MR, PT (PET also accepted), ...
    description = "axial"       # regular expression searched in SeriesDescription
    min_slices = 10
    allow_gaps = false

    [mask]                      # the keys of its source only
    source = "rtstruct"         # "file", "rtstruct", "seg" or "recipe" (required)
    roi = "GTV"                 # rtstruct: ROI name, seg: segment label (exact, case-insensitive, or a
                                # regex); or a whole number, the ROINumber / SegmentNumber (ROIs of one name)
    pattern = "lesions.nrrd"    # file (required): glob in the study folder (NIfTI or NRRD)
    label = 0                   # file: the label value of the ROI; 0 means every non-zero voxel
    resample = false            # file: a mask on another grid than the image's is resampled onto it
                                # (IBSI: linear interpolation, partial volume >= 0.5); false refuses it.
                                # A mask on the image's voxels in another axis order or direction (a
                                # dcm2niix NIfTI's rows bottom-up) is always taken, reordered exactly.
    threshold = [-100, 200]     # recipe (required): [lower, upper] in image units, or "otsu"
    opening_mm = 1.0            # recipe: opening radius [mm], 0 for none
    fill_holes = true           # recipe
    largest = true              # recipe: keep the largest connected component

    [[preprocess]]              # steps in order, each a gpuimg.preprocess function and its parameters
    step = "gaussian_filter"
    sigma = 1.0

    [edges]                     # gradient magnitude for the report and two edge features
    operator = "sobel"

    [features]                  # gpuimg.features.Settings fields, and the families to compute
    families = ["morphology", "statistics", "histogram"]
    image = "preprocessed"      # or "original": measure the image as read (segment on the preprocessed one)
    discretisation = "fbs"
    bin_width = 25.0

    [learning]                  # labels from a CSV keyed by patient ID, patient-level CV
    labels = "labels.csv"       # relative to the spec file
    id_column = "patient_id"
    folds = 5
    random_state = 0
    [learning.classification]
    target = "label"            # a column of the labels file (required)
    estimator = "random_forest" # or "decision_tree", "logistic_regression", "svm"
    params = { n_estimators = 200 }  # the estimator's parameters, by scikit-learn's names
    [learning.regression]
    target = "score"
    estimator = "ridge"         # or "linear_regression", "svr", "random_forest"
    [learning.clustering]
    estimator = "kmeans"        # or "dbscan", "som"
    params = { n_clusters = 2 }

    [privacy]
    keep_ids = false            # true writes the original patient IDs instead of pseudonyms
"""

import copy
import dataclasses
import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from gpuimg.errors import ConfigError
from gpuimg.features import FAMILIES, Settings

# The tables' own names, as gpuimg.cohort.spec gives them: MASK_SOURCES, TASKS, Selection, MaskSource,
# Learning, Task and STEPS.
from ._spec_document import _lists, _open_bounds, _present
from ._spec_input import _MASK_KEYS, _mask, _selection
from ._spec_input import MASK_SOURCES as MASK_SOURCES
from ._spec_input import MaskSource as MaskSource
from ._spec_input import Selection as Selection
from ._spec_learning import TASKS as TASKS
from ._spec_learning import Learning as Learning
from ._spec_learning import Task as Task
from ._spec_learning import _learning
from ._spec_steps import STEPS as STEPS
from ._spec_steps import _features, _step
from ._spec_values import _bool, _choice, _known, _table

_TABLES = ("input", "mask", "preprocess", "edges", "features", "learning", "privacy")


#: The version of the definitions of a study's row (its columns' meaning), part of
#: :attr:`Spec.study_hash`: raised when a column's definition changes, so that an output folder's
#: stored rows are measured again instead of mixed with new ones (2: the edge features in HU/mm).
ROW_DEFINITIONS = 2


@dataclass(frozen=True)
class Spec:
    """A checked pipeline spec (see the module docstring for the TOML it comes from).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from gpuimg.cohort import load_spec
    >>> path = Path(tempfile.mkdtemp()) / "pipeline.toml"
    >>> _ = path.write_text('''
    ... [mask]
    ... source = "recipe"
    ... threshold = [-100, 200]
    ...
    ... [features]
    ... families = ["statistics"]
    ... ''')
    >>> spec = load_spec(path)  # a Spec
    >>> spec.mask.source, spec.mask.threshold, spec.families, spec.steps
    ('recipe', (-100.0, 200.0), ('statistics',), ())
    """

    selection: Selection
    mask: MaskSource
    steps: tuple[tuple[str, dict], ...] = ()
    edges: str | None = None
    families: tuple[str, ...] = tuple(FAMILIES)
    settings: Settings = field(default_factory=Settings)
    feature_image: str = "preprocessed"
    learning: Learning = field(default_factory=Learning)
    keep_ids: bool = False
    source: dict = field(default_factory=dict, compare=False)

    @property
    def study_hash(self) -> str:
        """A digest of everything that shapes one study's row; finished studies are reused only for it.

        Made from the checked fields (all but ``learning`` and ``source``), not from the TOML document
        in ``source``: a Spec changed with :func:`dataclasses.replace` (other families, another mask)
        keeps its ``source``, and its studies were taken from the first spec's results.
        """
        fields = dataclasses.asdict(self)  # Selection, MaskSource and Settings as dicts too
        per_study = {k: v for k, v in fields.items() if k not in ("learning", "source")}
        per_study["row_definitions"] = ROW_DEFINITIONS
        text = json.dumps(per_study, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        """The spec's tables as :func:`spec_from_dict` takes them (and a TOML file holds them), made
        from the checked fields, not from ``source``: a Spec changed with :func:`dataclasses.replace`
        gives its own values. Keys that are None are left out (TOML has no null); the labels file's
        path is absolute, so the dict reads back from anywhere.

        Examples
        --------
        >>> import dataclasses
        >>> from gpuimg.cohort import spec_from_dict
        >>> spec = spec_from_dict({"mask": {"source": "recipe", "threshold": [-100, 200]}})
        >>> spec = dataclasses.replace(spec, families=("statistics",))
        >>> spec.to_dict()["features"]["families"]
        ['statistics']
        >>> spec_from_dict(spec.to_dict()) == spec
        True
        """
        mask = dataclasses.asdict(self.mask)
        settings = dataclasses.asdict(self.settings)
        if settings["new_spacing"] is not None:  # TOML's "keep" for an axis kept as it is
            settings["new_spacing"] = ["keep" if s is None else s for s in settings["new_spacing"]]
        learning = self.learning
        document = {
            "input": _present(dataclasses.asdict(self.selection)),
            "mask": _present({key: mask[key] for key in ("source", *_MASK_KEYS[self.mask.source])}),
            "preprocess": [{"step": name, **params} for name, params in self.steps],
            "features": {
                "families": list(self.families),
                "image": self.feature_image,
                **_present(settings),
            },
            "learning": _present(
                {
                    "labels": None if learning.labels is None else os.path.abspath(learning.labels),
                    "id_column": learning.id_column,
                    "folds": learning.folds,
                    "random_state": learning.random_state,
                    **{
                        task.kind: _present(
                            {"target": task.target, "estimator": task.estimator, "params": task.params}
                        )
                        for task in learning.tasks
                    },
                }
            ),
            "privacy": {"keep_ids": self.keep_ids},
        }
        if self.edges is not None:
            document["edges"] = {"operator": self.edges}
        return _lists(document)


def load_spec(path: str | os.PathLike) -> Spec:
    """Read and check a pipeline spec file.

    Parameters
    ----------
    path : str or path
        A TOML file (see :mod:`gpuimg.cohort.spec` for its tables), or the ``manifest.json`` of a run
        (a file ending in ``.json``), whose ``spec`` is the spec that run used (:meth:`Spec.to_dict`),
        to run it again; there a null bound of ``mask.threshold`` or ``features.reseg_range`` is the
        open bound (-inf, inf) that JSON cannot write.

    Returns
    -------
    Spec

    Raises
    ------
    ConfigError
        For an unreadable file, invalid TOML, an unknown table or key, or a value out of range (a
        preprocessing step's or an estimator's parameter included: each step is tried on a small image,
        each estimator's values checked as scikit-learn's ``fit`` does); the message names the key
        (``mask.source``, ``preprocess[0] (gaussian_filter)``, ``learning.classification``) and the fix.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pipeline.toml"
    >>> _ = path.write_text('[mask]\\nsource = "recipe"\\nthreshold = "otsu"\\n')
    >>> load_spec(path).mask.threshold
    'otsu'
    """
    path = Path(path)
    manifest = path.suffix.lower() == ".json"
    try:
        data = path.read_bytes()
        # An editor's byte order mark (Windows Notepad) is no TOML statement: left out.
        text = data.decode("utf-8-sig")
        document = json.loads(text) if manifest else tomllib.loads(text)
    except IsADirectoryError as exc:
        raise ConfigError(f"the pipeline spec {path} is a folder; {_spec_in(path)}.") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read the pipeline spec {path}: {exc}. Check the path.") from exc
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"the pipeline spec {path} is not UTF-8 text (line {line} holds the byte "
            f"{data[exc.start : exc.start + 1]!r}); save it in UTF-8, as TOML requires."
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the pipeline spec {path} is not valid TOML: {exc}.") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); pass a run's manifest.json.") from exc
    if manifest:
        if not isinstance(document, dict) or not isinstance(document.get("spec"), dict):
            raise ConfigError(
                f"{path} holds no spec (its key 'spec' is missing); pass a gpuimg run's manifest.json, "
                "or the spec's TOML file."
            )
        document = _open_bounds(document["spec"])
    try:
        return spec_from_dict(document, base=path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _spec_in(folder: Path) -> str:
    """What to pass for a spec given as ``folder``: its TOML files, or its ``manifest.json`` (an earlier
    run's output folder, given to run it again), which the message said only 'Is a directory' of."""
    try:
        found = sorted(p.name for p in folder.iterdir() if p.suffix.lower() == ".toml" and p.is_file())
        if not found and (folder / "manifest.json").is_file():
            found = ["manifest.json"]
    except OSError:
        found = []
    if not found:
        return "pass the spec's TOML file"
    shown = " or ".join(str(folder / name) for name in found[:3])
    what = "the spec of the run whose outputs it holds" if found == ["manifest.json"] else "a spec file in it"
    return f"pass the file itself: {shown} ({what})"


def spec_from_dict(document: dict, *, base: str | os.PathLike = ".") -> Spec:
    """A :class:`Spec` from the parsed TOML tables; relative paths are taken from ``base``.

    Raises
    ------
    ConfigError
        As :func:`load_spec`, naming the key and the fix.

    Examples
    --------
    >>> from gpuimg.cohort import spec_from_dict
    >>> spec = spec_from_dict({
    ...     "input": {"modality": "ct"},
    ...     "mask": {"source": "recipe", "threshold": [-100, 200]},
    ...     "features": {"families": ["statistics"], "discretisation": "fbs", "bin_width": 10.0},
    ... })
    >>> spec.selection.modality, spec.mask.threshold, spec.settings.discretisation, spec.settings.bin_width
    ('CT', (-100.0, 200.0), 'fbs', 10.0)
    >>> spec_from_dict({"mask": {"source": "recipe"}})
    Traceback (most recent call last):
    ...
    gpuimg.errors.ConfigError: mask.threshold is needed for mask.source = 'recipe'; e.g. ...
    """
    _known("the spec", document, _TABLES)
    steps = document.get("preprocess", [])
    if not isinstance(steps, list):
        raise ConfigError("preprocess must be an array of tables ([[preprocess]] with step = ...).")
    edges = _table(document, "edges")
    _known("edges", edges, ("operator",))
    privacy = _table(document, "privacy")
    _known("privacy", privacy, ("keep_ids",))
    families, settings, feature_image = _features(_table(document, "features"))
    return Spec(
        selection=_selection(_table(document, "input")),
        mask=_mask(_table(document, "mask")),
        steps=tuple(_step(i, step) for i, step in enumerate(steps)),
        edges=_choice("edges.operator", edges.get("operator", "sobel"), ("sobel", "prewitt", "scharr"))
        if "edges" in document
        else None,
        families=families,
        settings=settings,
        feature_image=feature_image,
        learning=_learning(_table(document, "learning"), Path(base)),
        keep_ids=_bool("privacy.keep_ids", privacy.get("keep_ids", False)),
        # A copy: the caller's dict, changed after (one spec per bin width in a loop), changed this spec's
        # record of itself in the manifest.
        source=copy.deepcopy(document),
    )
