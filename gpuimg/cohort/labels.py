"""The labels of a cohort's learning tasks and the feature table they are joined to: the labels file
read and checked by patient (before any study is measured), the feature rows as a matrix.

Apart from :mod:`gpuimg.cohort.learn`, which fits the tasks, so that a run without learning tasks
does not import scikit-learn (most of a second).
"""

import csv
import math
import re

import numpy as np

from gpuimg.errors import ConfigError

from .privacy import patient_name
from .spec import Learning

#: Columns of a feature row that are not features.
ID_COLUMNS = ("study", "patient", "modality")
#: Cells of a labels file that mean "no value" (pandas' defaults for ``read_csv``): R writes NA,
#: spreadsheets #N/A, Python None or nan.
MISSING = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)


def feature_matrix(rows: list[dict]) -> tuple[np.ndarray, list[str]]:
    """The numeric feature columns of ``rows`` as a float matrix, without columns that are all NaN."""
    names = [k for k in dict.fromkeys(c for row in rows for c in row) if k not in ID_COLUMNS]
    X = np.array([[_number(row.get(name)) for name in names] for row in rows], dtype=float)
    X = X.reshape(len(rows), len(names))  # (0, 0) without rows
    keep = ~np.all(np.isnan(X), axis=0)
    return X[:, keep], [n for n, k in zip(names, keep, strict=True) if k]


def _number(value) -> float:
    return math.nan if value is None else float(value)


def read_labels(learning: Learning, key: bytes, keep_ids: bool) -> dict[str, dict[str, str]]:
    """The labels file as ``patient -> {column: value}``, patients named as the outputs name them.

    The file is CSV in UTF-8 (a spreadsheet's byte order mark is allowed). Spaces around names and
    values are left out, and cells of :data:`MISSING` (``NA``, ``#N/A``, ...) are no value, as an empty
    one. Rows without a patient ID are left out; two rows of one patient must agree in the targets'
    columns (other columns, a visit's date say, may differ: the first row is kept).

    Raises
    ------
    ConfigError
        If the file cannot be read, is not UTF-8 CSV, lacks the ID column or a task's target column,
        has two columns of the name of the ID's or a target's column, gives one patient two rows whose
        targets differ (the ID is not shown: it may identify the patient), has a regression target that
        is no finite number (a decimal comma, a word), or a target cell holding a spreadsheet's error
        value (``#DIV/0!``, ``#VALUE!``, ...).
    """
    if learning.labels is None:
        return {}
    labels: dict[str, dict[str, str]] = {}
    lines: dict[str, int] = {}  # the line each patient's first row ends on
    try:
        with open(learning.labels, newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            first = ",".join(reader.fieldnames or [])
            columns = reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
            if re.fullmatch(r"sep=.", first, re.IGNORECASE) and learning.id_column not in columns:
                # Excel's note of the separator: the columns were 'sep=' and '', and the advice was to set
                # learning.id_column.
                raise ConfigError(
                    f"learning.labels: the first line of {learning.labels}, {first!r}, is a spreadsheet's "
                    "note of the separator, not the columns' names; remove that line"
                    + ("." if first[4:] == "," else ", and save the file as CSV (comma delimited).")
                )
            if learning.id_column not in columns:
                # Another separator: the one column, or the ID column's name among a column's parts (a
                # name with a comma, 'growth, mm', split the semicolons' header in two).
                other = next(
                    (
                        d
                        for d in ";\t"
                        if (len(columns) == 1 and d in columns[0])
                        or any(learning.id_column in map(str.strip, c.split(d)) for c in columns)
                    ),
                    None,
                )
                # The names of the columns are not shown: in a file saved without its header row they
                # are the first patient's cells, the ID among them.
                fix = (
                    f"its columns are separated by {other!r}: save it as CSV (comma delimited)"
                    if other
                    else "its first row must name the columns; set learning.id_column to the name of the "
                    "patient ID's column there"
                )
                raise ConfigError(
                    f"learning.labels: {learning.labels} has no column {learning.id_column!r} among its "
                    f"{len(columns)} columns; {fix}."
                )
            for task in learning.tasks:
                # A misspelt target was found only after every study was measured ("no study has a value").
                if task.target is not None and task.target not in columns:
                    raise ConfigError(
                        f"learning.{task.kind}.target={task.target!r}: {learning.labels} has no such column "
                        f"among its {len(columns)} columns; name a column of its first row (matched exactly: "
                        "case and spelling count)."
                    )
            # csv.DictReader keeps the last of the columns of one name (pandas reads the first, and
            # names the other "label.1"): with two ID columns, the patients were keyed by the second.
            used = {learning.id_column, *(task.target for task in learning.tasks if task.target)}
            twice = [name for name in sorted(used) if columns.count(name) > 1]
            if twice:
                raise ConfigError(
                    f"learning.labels: {learning.labels} has {columns.count(twice[0])} columns named "
                    f"{twice[0]!r}, so which one holds the values is unclear; rename or remove all but one."
                )
            for cells in reader:
                # Cells past the header (key None) and missing at a row's end (value None) are no values.
                row = {
                    k: v.strip()
                    for k, v in cells.items()
                    if k is not None and v is not None and v.strip() not in MISSING
                }
                patient = row.get(learning.id_column)
                if not patient:
                    continue
                _check_targets(row, learning, reader.line_num)
                name = patient_name(key, patient, keep_ids=keep_ids)
                first = labels.setdefault(name, row)
                lines.setdefault(name, reader.line_num)
                # Only the targets: a sheet of one row per visit repeats the patient's label beside
                # columns no task reads (its date), and was refused as 'other values'.
                differing = [c for c in sorted(used - {learning.id_column}) if first.get(c) != row.get(c)]
                if differing:
                    raise ConfigError(
                        f"learning.labels: the row ending on line {reader.line_num} of {learning.labels} "
                        f"has the patient ID of the row ending on line {lines[name]} but another "
                        f"{' and '.join(map(repr, differing))}; keep one row per patient, or make its "
                        "rows agree in that column."
                    )
    except OSError as exc:
        raise ConfigError(f"learning.labels: cannot read {learning.labels}: {exc}.") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(
            f"learning.labels: {learning.labels} is not CSV text in UTF-8 ({type(exc).__name__}); save it "
            "as CSV UTF-8 (comma delimited)."
        ) from exc
    return labels


#: The error values a spreadsheet writes into a CSV file for a cell whose formula fails (Excel's, also
#: LibreOffice's; ``#N/A`` is in :data:`MISSING`): no class, no number.
SPREADSHEET_ERRORS = frozenset(
    {"#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!", "#FIELD!", "Err:502"}
)
#: A number written with a comma: a decimal comma (0,5) or thousands separators (1,000 or 1,000.5).
_COMMA_NUMBER = re.compile(r"[+-]?[0-9]*,[0-9,]*(\.[0-9]*)?")


def _check_targets(row: dict[str, str], learning: Learning, line: int) -> None:
    """Refuse a target's cell of ``row`` (the row ending on ``line``) that holds a spreadsheet's error
    value, or, for a regression, no finite number. Found before any study is measured: a regression
    target '0,5' or 'high' failed the task after every study was measured ('holds non-numbers'), and a
    class '#DIV/0!' was learned as a class of its own. The cell's value is not shown (a target column
    named by mistake may be one of identifiers)."""
    for task in learning.tasks:
        value = row.get(task.target) if task.target is not None else None
        if value is None:
            continue
        if value in SPREADSHEET_ERRORS:
            problem = (
                "a spreadsheet's error value (such as #DIV/0!) where a formula failed; correct the formula "
                "in the sheet and save it again, or leave the cell empty where the value is unknown"
            )
        elif task.kind != "regression":
            continue
        elif _COMMA_NUMBER.fullmatch(value):
            problem = (
                "a number written with a comma (0,5 or 1,000); a regression target is read with a decimal "
                "point and no thousands separator (0.5, 1000): save the sheet as CSV with those settings, "
                "or replace the commas"
            )
        else:
            try:
                if math.isfinite(float(value)):
                    continue
                problem = "not a finite number; give the number, or leave the cell empty where it is unknown"
            except ValueError:
                problem = (
                    "not a number; a regression target is a number for each patient (leave the cell empty "
                    "where it is unknown): to predict classes, name the column in [learning.classification]"
                )
        raise ConfigError(
            f"learning.{task.kind}.target={task.target!r}: on the row ending on line {line} of "
            f"{learning.labels}, the cell of column {task.target!r} is {problem}."
        )
