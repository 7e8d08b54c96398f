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
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from gpuimg.errors import ConfigError, GpuimgError
from gpuimg.features import FAMILIES, Settings

from ._spec_document import _lists, _open_bounds, _present
from ._spec_steps import STEPS as STEPS  # the steps a spec may name, gpuimg.cohort.spec.STEPS
from ._spec_steps import _features, _step
from ._spec_values import _bool, _choice, _int, _known, _str, _table

MASK_SOURCES = ("file", "rtstruct", "seg", "recipe")
TASKS = ("classification", "regression", "clustering")
_MODALITY_ALIASES = {"PET": "PT", "MRI": "MR"}
_TABLES = ("input", "mask", "preprocess", "edges", "features", "learning", "privacy")


@dataclass(frozen=True)
class Selection:
    """Which series of a study folder to analyse."""

    modality: str | None = None
    description: str | None = None
    min_slices: int = 1
    allow_gaps: bool = False


@dataclass(frozen=True)
class MaskSource:
    """Where the region of interest comes from."""

    source: str
    roi: str | int | None = None
    pattern: str | None = None
    label: int = 0
    threshold: tuple[float, float] | str | None = None
    opening_mm: float = 0.0
    fill_holes: bool = True
    largest: bool = True


@dataclass(frozen=True)
class Task:
    """One learning task: its target column (none for clustering), estimator name and parameters."""

    kind: str
    estimator: str
    target: str | None = None
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Learning:
    """Labels file, patient-level cross-validation and the tasks."""

    labels: Path | None = None
    id_column: str = "patient_id"
    folds: int = 5
    random_state: int = 0
    tasks: tuple[Task, ...] = ()


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


def _selection(table: dict) -> Selection:
    _known("input", table, [f.name for f in dataclasses.fields(Selection)])
    modality = table.get("modality")
    if modality is not None:
        modality = _str("input.modality", modality).upper()
        modality = _MODALITY_ALIASES.get(modality, modality)
        if modality in ("SEG", "RTSTRUCT"):  # never chosen as the image: every study matched no series
            raise ConfigError(
                f"input.modality={table['modality']!r} is a mask, not the image series; set the image's "
                f'modality (CT, MR, PT, ...) and take the mask with mask.source = "{modality.lower()}".'
            )
    description = table.get("description")
    if description is not None:
        try:
            re.compile(_str("input.description", description))
        except re.error as exc:
            raise ConfigError(
                f"input.description={description!r} is not a regular expression: {exc}."
            ) from exc
    return Selection(
        modality=modality,
        description=description,
        min_slices=_int("input.min_slices", table.get("min_slices", 1), 1),
        allow_gaps=_bool("input.allow_gaps", table.get("allow_gaps", False)),
    )


def _mask(table: dict) -> MaskSource:
    _known("mask", table, [f.name for f in dataclasses.fields(MaskSource)])
    if "source" not in table:
        raise ConfigError(f'mask.source is missing; set it to one of {list(MASK_SOURCES)} (e.g. "rtstruct").')
    source = _choice("mask.source", table["source"], MASK_SOURCES)
    # A key of another source would be ignored without a word (roi = "GTV" with a mask file, a label
    # number with a SEG): it says the spec means something it does not do.
    other = sorted(set(table) - {"source", *_MASK_KEYS[source]})
    if other:
        raise ConfigError(
            f"mask: {', '.join(f'mask.{key}' for key in other)} {'does' if len(other) == 1 else 'do'} not "
            f"apply to mask.source = {source!r}, which takes "
            f"{list(_MASK_KEYS[source])}; remove them, or set mask.source to the source they belong to "
            f"({', '.join(f'{key}: {_owner(key)}' for key in other)})."
        )
    needs = {"file": "pattern", "recipe": "threshold"}.get(source)
    if needs and needs not in table:
        example = '"lesions.nrrd"' if needs == "pattern" else '[-100, 200] or "otsu"'
        raise ConfigError(f"mask.{needs} is needed for mask.source = {source!r}; e.g. {needs} = {example}.")
    threshold = table.get("threshold")
    if threshold is not None and threshold != "otsu":
        if (
            not isinstance(threshold, list)
            or len(threshold) != 2
            or not all(isinstance(t, int | float) and not isinstance(t, bool) for t in threshold)
            or not threshold[0] <= threshold[1]  # NaN compares false: TOML's nan is no bound
        ):
            raise ConfigError(
                f"mask.threshold={threshold!r} must be [lower, upper] (lower <= upper; -inf or inf for no "
                'bound) or "otsu".'
            )
        threshold = (float(threshold[0]), float(threshold[1]))
    pattern = None if table.get("pattern") is None else _str("mask.pattern", table["pattern"])
    if pattern is not None and (
        Path(pattern).is_absolute() or ".." in Path(pattern).parts or not Path(pattern).parts
    ):
        # Path.glob refuses an absolute pattern (and "." with an IndexError), and one through ".." finds
        # the same file for every study.
        raise ConfigError(
            f'mask.pattern={pattern!r} must be a glob inside each study folder (e.g. "mask.nrrd" or '
            '"seg/*.nii.gz"), not a path out of it; put each study\'s mask in its own folder.'
        )
    opening = table.get("opening_mm", 0.0)
    if isinstance(opening, bool) or not isinstance(opening, int | float) or not 0 <= opening < math.inf:
        raise ConfigError(f"mask.opening_mm={opening!r} must be a finite radius in mm, 0 or more.")
    return MaskSource(
        source=source,
        roi=_roi(table.get("roi")),
        pattern=pattern,
        label=_int("mask.label", table.get("label", 0), 0),
        threshold=threshold,
        opening_mm=float(opening),
        fill_holes=_bool("mask.fill_holes", table.get("fill_holes", True)),
        largest=_bool("mask.largest", table.get("largest", True)),
    )


def _roi(value) -> str | int | None:
    """mask.roi: a name (or pattern), or the ROINumber / SegmentNumber that tells apart ROIs of one name."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"mask.roi={value!r} must be the ROI's name (a non-empty string) or its number (a whole "
            "number: the ROINumber of an RTSTRUCT, the SegmentNumber of a SEG)."
        )
    return value


#: The keys of [mask] each source takes, besides ``source``.
_MASK_KEYS = {
    "file": ("pattern", "label"),
    "rtstruct": ("roi",),
    "seg": ("roi",),
    "recipe": ("threshold", "opening_mm", "fill_holes", "largest"),
}


def _owner(key: str) -> str:
    return " or ".join(repr(source) for source, keys in _MASK_KEYS.items() if key in keys)


def _learning(table: dict, base: Path) -> Learning:
    from gpuimg.ml import make_estimator  # scikit-learn: imported only where a spec is checked

    _known("learning", table, ("labels", "id_column", "folds", "random_state", *TASKS))
    tasks = []
    for kind in TASKS:
        if kind not in table:
            continue
        where = f"learning.{kind}"
        entry = _table(table, kind, "learning")
        # Clustering learns from the features alone: a target there would be ignored without a word.
        _known(
            where,
            entry,
            ("estimator", "params") if kind == "clustering" else ("target", "estimator", "params"),
        )
        if kind != "clustering" and "target" not in entry:
            raise ConfigError(f"{where}.target is missing: name the column of the labels file to predict.")
        if kind != "clustering" and "labels" not in table:
            raise ConfigError(f"{where} needs learning.labels, a CSV file with the patient IDs and targets.")
        default = {"classification": "random_forest", "regression": "ridge", "clustering": "kmeans"}[kind]
        name = _str(f"{where}.estimator", entry.get("estimator", default))
        params = entry.get("params", {})
        if not isinstance(params, dict):
            raise ConfigError(f"{where}.params must be a table of the estimator's parameters.")
        try:
            # The values too (n_estimators = 0): refused by fit only after every study was measured.
            make_estimator(name, kind, **params).check_params()
        except GpuimgError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        target = None if kind == "clustering" else _str(f"{where}.target", entry["target"])
        tasks.append(Task(kind, name, target, dict(params)))
    labels = table.get("labels")
    id_column = _str("learning.id_column", table.get("id_column", "patient_id"))
    for task in tasks:
        # The original IDs as targets: they would reach the metrics, the report and the model's classes.
        if task.target == id_column:
            raise ConfigError(
                f"learning.{task.kind}.target={task.target!r} is the patient ID column (learning.id_column); "
                "name the column of the labels file to predict."
            )
    return Learning(
        labels=None if labels is None else base / _str("learning.labels", labels),
        id_column=id_column,
        folds=_int("learning.folds", table.get("folds", 5), 2),
        # NumPy's legacy seeds, which scikit-learn's splitters and estimators take, end at 2**32 - 1.
        random_state=_int("learning.random_state", table.get("random_state", 0), 0, 2**32 - 1),
        tasks=tuple(tasks),
    )
