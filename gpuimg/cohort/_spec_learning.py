"""The checks of a pipeline spec's ``[learning]`` table: the labels file, patient-level
cross-validation and the tasks (:class:`Learning`, :class:`Task`), each estimator's parameters checked
as scikit-learn's ``fit`` checks them."""

from dataclasses import dataclass, field
from pathlib import Path

from gpuimg.errors import ConfigError, GpuimgError

from ._spec_values import _int, _known, _str, _table

TASKS = ("classification", "regression", "clustering")


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


def _learning(table: dict, base: Path) -> Learning:
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
            # scikit-learn, most of a second: imported only where a spec names a task to check.
            from gpuimg.ml import make_estimator

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
