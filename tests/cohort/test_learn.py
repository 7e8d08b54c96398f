"""The cohort's learning step: its cross-validated results depend on the data, not on the pseudonyms."""

import csv
import dataclasses
import io

import numpy as np
import pytest
from cohort_data import report_text
from sklearn.metrics import accuracy_score, r2_score

from gpuimg.cohort.labels import read_labels
from gpuimg.cohort.learn import fit_tasks
from gpuimg.cohort.privacy import pseudonym
from gpuimg.cohort.spec import Learning, Task
from gpuimg.errors import ConfigError


@pytest.fixture
def cohort(tmp_path):
    """36 patients, two studies each, with a noisy class and a noisy continuous target."""
    rng = np.random.default_rng(7)
    labels = tmp_path / "labels.csv"
    patients, studies = [f"P{k:02d}" for k in range(36)], []
    with open(labels, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["patient_id", "malignant", "growth"])
        for patient in patients:
            malignant = int(rng.random() < 0.5)
            growth = rng.normal()
            writer.writerow([patient, malignant, growth])
            for study in range(2):
                features = rng.normal(size=6)
                features[0] += 0.8 * malignant
                features[1] += 0.7 * growth
                studies.append((patient, f"{patient}-{study}", features))
    learning = Learning(
        labels=labels,
        folds=5,
        random_state=0,
        tasks=(
            Task("classification", "logistic_regression", "malignant", {"C": 0.5}),
            Task("regression", "ridge", "growth"),
            Task("clustering", "kmeans", None, {"n_clusters": 3, "n_init": 1}),
        ),
    )
    return learning, studies


def _fit(learning, studies, key):
    """fit_tasks as the pipeline calls it: rows keyed and sorted by the pseudonyms of ``key``."""
    rows = [
        {"study": pseudonym(key, "study", study), "patient": pseudonym(key, "patient", patient)}
        | {f"f{k}": float(v) for k, v in enumerate(features)}
        for patient, study, features in studies
    ]
    rows.sort(key=lambda row: row["study"])
    return fit_tasks(rows, learning, read_labels(learning, key, keep_ids=False))


def test_cross_validated_results_do_not_depend_on_the_pseudonym_key(cohort):
    learning, studies = cohort
    results = [_fit(learning, studies, key) for key in (b"a" * 32, b"b" * 32, b"c" * 32)]
    first = results[0][1]
    assert 0.5 < first["classification"]["accuracy"] < 1.0  # a learnable but imperfect task
    for _, scores, predictions in results[1:]:
        # The same rows in the same order: the same computation, to the last bit.
        assert scores == first
        assert np.array_equal(_points(predictions["clustering"]), _points(results[0][2]["clustering"]))
    # The scores are those of the out-of-fold predictions the report plots.
    for _, scores, predictions in results:
        classified, regressed = predictions["classification"], predictions["regression"]
        assert scores["classification"]["accuracy"] == pytest.approx(
            accuracy_score(classified["y"], classified["y_pred"])
        )
        assert scores["regression"]["r2"] == pytest.approx(r2_score(regressed["y"], regressed["y_pred"]))


def _points(clustering):
    """The report's cluster map as a set: each study's 2D projection with its cluster, sorted (the
    order of a patient's studies follows their pseudonyms)."""
    points = np.column_stack([clustering["projection"], clustering["clusters"]])
    return points[np.lexsort(points.T[::-1])]


def test_studies_of_patients_without_labels_are_clustered_only(cohort):
    learning, studies = cohort
    extra = [("X99", f"X99-{k}", np.zeros(6)) for k in range(2)]  # not in the labels file
    _, scores, predictions = _fit(learning, studies + extra, b"k" * 32)
    assert scores["classification"]["n_studies"] == 72 and scores["classification"]["n_patients"] == 36
    assert scores["regression"]["n_studies"] == 72
    assert scores["clustering"]["n_studies"] == 74 and len(predictions["clustering"]["clusters"]) == 74


def test_a_task_the_data_cannot_fit_is_recorded_and_the_others_run(cohort):
    # One class only among the labelled patients, more clusters than studies: each task records why
    # it was not fitted, gets no model, and the regression still runs.
    learning, studies = cohort
    with open(learning.labels) as file:
        rows = list(csv.reader(file))
    with open(learning.labels, "w", newline="") as file:
        csv.writer(file).writerows([rows[0], *([patient, 1, growth] for patient, _, growth in rows[1:])])
    tasks = (*learning.tasks[:2], Task("clustering", "kmeans", None, {"n_clusters": 100, "n_init": 1}))
    models, scores, predictions = _fit(dataclasses.replace(learning, tasks=tasks), studies, b"k" * 32)
    assert scores["classification"] == {
        "error": "ParameterError: y holds one class only ([1]); a classifier needs at least two classes.",
        "n_studies": 72,
    }
    assert scores["clustering"]["error"].startswith(
        "ParameterError: kmeans: n_samples=72 should be >= n_clusters=100"
    )
    assert set(models) == {"features", "regression"} and set(predictions) == {"regression"}
    assert 0.0 < scores["regression"]["r2"] < 1.0
    only_failing = dataclasses.replace(learning, tasks=(tasks[0], tasks[2]))
    models, scores, _ = _fit(only_failing, studies, b"k" * 32)
    assert models == {} and all("error" in task for task in scores.values())


def _labels(tmp_path, data: bytes) -> Learning:
    (tmp_path / "labels.csv").write_bytes(data)
    return Learning(labels=tmp_path / "labels.csv", id_column="pid")


def test_labels_saved_by_a_spreadsheet_with_a_byte_order_mark(tmp_path):
    learning = _labels(tmp_path, "pid,grade\nPAT-1,2\nPAT-2,3\n".encode("utf-8-sig"))
    assert read_labels(learning, b"", keep_ids=True) == {
        "PAT-1": {"pid": "PAT-1", "grade": "2"},
        "PAT-2": {"pid": "PAT-2", "grade": "3"},
    }


def test_labels_not_in_utf8_are_refused_with_the_fix(tmp_path):
    learning = _labels(tmp_path, "pid,site\nPAT-1,Orléans\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"labels.csv is not CSV text in UTF-8 .*save it as CSV UTF-8"):
        read_labels(learning, b"", keep_ids=True)


def test_one_patient_on_two_rows_must_agree_and_its_id_is_not_shown(tmp_path):
    key = b"k" * 32
    same = _labels(tmp_path, b"pid,grade\nPAT-1,2\nPAT-2,3\nPAT-1,2\n")
    assert read_labels(same, key, keep_ids=False) == {
        pseudonym(key, "patient", "PAT-1"): {"pid": "PAT-1", "grade": "2"},
        pseudonym(key, "patient", "PAT-2"): {"pid": "PAT-2", "grade": "3"},
    }
    differing = dataclasses.replace(
        _labels(tmp_path, b"pid,grade\nPAT-1,2\nPAT-2,3\nPAT-1,4\n"),
        tasks=(Task("classification", "logistic_regression", "grade"),),
    )
    with pytest.raises(
        ConfigError, match=r"row ending on line 4 .* of the row ending on line 2 but another 'grade'"
    ) as info:
        read_labels(differing, key, keep_ids=False)
    assert "PAT-1" not in str(info.value)


def test_rows_of_one_patient_may_differ_outside_the_targets(tmp_path):
    # A sheet of one row per visit repeats each patient's class beside the visit's date, which no task
    # reads: it was refused ('the patient ID of an earlier row but other values; keep one row per
    # patient'), naming no column. The reference: the targets joined with the csv module.
    data = (
        "pid,visit,grade,growth\nPAT-1,2019-03-01,2,0.5\nPAT-2,2019-04-11,3,1.5\n"
        "PAT-1,2020-02-27,2,0.5\nPAT-3,2020-05-02,,\nPAT-3,2021-01-09,,\n"
    )
    tasks = (Task("classification", "logistic_regression", "grade"), Task("regression", "ridge", "growth"))
    learning = dataclasses.replace(_labels(tmp_path, data.encode()), tasks=tasks)
    expected = {}
    for row in csv.DictReader(io.StringIO(data)):
        expected.setdefault(row["pid"], {c: row[c] for c in ("grade", "growth") if row[c]})
    read = read_labels(learning, b"", keep_ids=True)
    assert {p: {c: r[c] for c in ("grade", "growth") if c in r} for p, r in read.items()} == expected
    assert read["PAT-1"]["visit"] == "2019-03-01"  # the first row
    # Rows that differ in a target are refused, naming the column, not the patient.
    for changed, column in (("2,0.7", "'growth'"), (",0.5", "'grade'"), ("3,0.9", "'grade' and 'growth'")):
        conflicting = data.replace("2020-02-27,2,0.5", f"2020-02-27,{changed}")
        with pytest.raises(ConfigError) as info:
            read_labels(
                dataclasses.replace(learning, labels=_labels(tmp_path, conflicting.encode()).labels),
                b"",
                True,
            )
        assert str(info.value) == (
            f"learning.labels: the row ending on line 4 of {tmp_path / 'labels.csv'} has the patient ID of "
            f"the row ending on line 2 but another {column}; keep one row per patient, or make its rows "
            "agree in that column."
        )


@pytest.mark.parametrize(
    ("cell", "kind", "problem"),
    [
        ('"0,5"', "regression", r"a number written with a comma \(0,5 or 1,000\); .* decimal point"),
        ('"1,250.5"', "regression", r"a number written with a comma"),
        ("high", "regression", r"not a number; .* name the column in \[learning\.classification\]"),
        ("inf", "regression", r"not a finite number"),
        ("#DIV/0!", "regression", r"a spreadsheet's error value \(such as #DIV/0!\)"),
        ("#VALUE!", "classification", r"a spreadsheet's error value .* correct the formula"),
    ],
)
def test_a_target_cell_that_is_no_value_of_its_task_is_refused_when_read(cell, kind, problem, tmp_path):
    # A regression target '0,5' (a decimal comma, quoted in a comma-separated file) or 'high' failed the
    # task only after every study was measured ('holds non-numbers: could not convert string to float'),
    # naming neither the file nor the fix; 'inf' as 'y holds NaN or infinite values'; and a formula's
    # error '#VALUE!' was learned as a class of its own, since pandas (the reference) reads such a cell
    # as text, not as a missing value.
    import pandas as pd

    data = f"pid,y\nPAT-1,1\nPAT-2,{cell}\nPAT-3,2\n"
    learning = _labels(tmp_path, data.encode())
    column = pd.read_csv(io.StringIO(data))["y"]
    assert not (pd.api.types.is_numeric_dtype(column) and np.isfinite(column).all())  # pandas: no numbers
    learning = dataclasses.replace(
        learning, tasks=(Task(kind, "ridge" if kind == "regression" else "svm", "y"),)
    )
    with pytest.raises(ConfigError, match=problem) as info:
        read_labels(learning, b"", keep_ids=True)
    assert str(info.value).startswith(
        f"learning.{kind}.target='y': on the row ending on line 3 of {tmp_path / 'labels.csv'}, the cell of "
        "column 'y' is "
    )
    assert "PAT-2" not in str(info.value)
    # The same cell in a column no task reads is no concern of the spec's.
    assert read_labels(dataclasses.replace(learning, tasks=()), b"", keep_ids=True)["PAT-2"][
        "y"
    ] == cell.strip('"')


def test_regression_targets_as_python_reads_numbers_are_taken(tmp_path):
    # Every spelling float() takes (the reference), as the learning step reads the column.
    cells = ["1e3", "+3", ".5", "5.", "-0.25", "1E-2"]
    data = "pid,y\n" + "".join(f"PAT-{k},{c}\n" for k, c in enumerate(cells))
    learning = dataclasses.replace(
        _labels(tmp_path, data.encode()), tasks=(Task("regression", "ridge", "y"),)
    )
    read = read_labels(learning, b"", keep_ids=True)
    assert [float(read[f"PAT-{k}"]["y"]) for k in range(len(cells))] == [float(c) for c in cells]


def test_rows_without_a_patient_id_are_left_out(tmp_path):
    learning = _labels(tmp_path, b"grade,pid\n2,PAT-1\n3,\n4\n,,\n")
    assert read_labels(learning, b"", keep_ids=True) == {"PAT-1": {"grade": "2", "pid": "PAT-1"}}


def test_labels_with_spaces_and_missing_value_markers(cohort, tmp_path):
    # A file written with ", " between cells and NA / #N/A / n/a for unknown values (R, spreadsheets).
    # The spaces made every ID and column name miss ("no study has a value"), and an NA target was
    # taken as a class of its own ("NA" beside 0 and 1), or a regression target that is no number.
    import pandas as pd

    learning, studies = cohort
    with open(learning.labels, newline="") as file:
        rows = list(csv.reader(file))
    markers = ["NA", "#N/A", "n/a", "", "nan"]
    for i, row in enumerate(rows[1:]):
        if i % 4 == 1:
            row[1 + (i // 4) % 2] = markers[(i // 4) % len(markers)]
    clean = tmp_path / "clean.csv"
    with open(clean, "w", newline="") as file:
        csv.writer(file).writerows(rows)
    spaced = tmp_path / "spaced.csv"
    spaced.write_text("".join(" " + " , ".join(row) + " \r\n" for row in rows))
    # The truth: pandas' reading of the file without spaces, with its default missing values.
    table = pd.read_csv(clean, dtype=str)
    expected = {
        record["patient_id"]: {k: v for k, v in record.items() if isinstance(v, str)}
        for record in table.to_dict("records")
    }
    learning = dataclasses.replace(learning, labels=spaced)
    assert read_labels(learning, b"", keep_ids=True) == expected
    _, scores, _ = _fit(learning, studies, b"k" * 32)
    for kind, column in (("classification", "malignant"), ("regression", "growth")):
        assert scores[kind]["n_studies"] == 2 * table[column].notna().sum() < 72
    assert scores["classification"]["classes"] == [0, 1]


def test_labels_separated_by_semicolons_are_refused_with_the_fix(tmp_path):
    # A spreadsheet in a locale with decimal commas saves CSV with semicolons: the one column found
    # is the whole header, and the advice was to set learning.id_column.
    learning = _labels(tmp_path, b"pid;grade\r\nPAT-1;2\r\n")
    with pytest.raises(ConfigError, match=r"separated by ';': save it as CSV \(comma delimited\)"):
        read_labels(learning, b"", keep_ids=True)


@pytest.mark.parametrize("separator", [",", ";"])
def test_labels_led_by_a_spreadsheets_separator_line_are_refused_with_the_fix(separator, tmp_path):
    # Excel's 'sep=,' line (written for Excel by other tools) made the columns 'sep=' and '', and the
    # advice was to set learning.id_column; 'sep=;' was told only of the semicolons.
    rows = [["pid", "grade"], ["PAT-1", "2"], ["PAT-2", "3"]]
    data = f"sep={separator}\r\n" + "".join(separator.join(row) + "\r\n" for row in rows)
    learning = _labels(tmp_path, data.encode())
    with pytest.raises(ConfigError) as info:
        read_labels(learning, b"", keep_ids=True)
    fix = "." if separator == "," else ", and save the file as CSV (comma delimited)."
    assert str(info.value) == (
        f"learning.labels: the first line of {learning.labels}, 'sep={separator}', is a spreadsheet's note "
        f"of the separator, not the columns' names; remove that line{fix}"
    )
    # The fix: without that line (and with commas), the csv module's join.
    fixed = _labels(tmp_path, "".join(",".join(row) + "\r\n" for row in rows).encode())
    expected = {
        row["pid"]: row for row in csv.DictReader(io.StringIO(data.split("\r\n", 1)[1].replace(";", ",")))
    }
    assert read_labels(fixed, b"", keep_ids=True) == expected


def test_labels_separated_by_semicolons_with_a_comma_in_a_column_name(tmp_path):
    # 'growth, mm' split the semicolons' header into two columns, and the message said to set
    # learning.id_column, which no value fixes. The reference: pandas reads the ID column with sep=';'.
    import pandas as pd

    data = "pid;grade;growth, mm\r\nPAT-1;2;0,5\r\n"
    assert "pid" in pd.read_csv(io.StringIO(data), sep=";").columns
    with pytest.raises(
        ConfigError, match=r"among its 2 columns; its columns are separated by ';': save it as"
    ):
        read_labels(_labels(tmp_path, data.encode()), b"", keep_ids=True)
    # A comma-separated file that lacks the ID column keeps the advice to name it, a ';' in a name or not.
    with pytest.raises(ConfigError, match=r"its first row must name the columns; set learning.id_column"):
        read_labels(_labels(tmp_path, b"patient,dose;Gy\r\nPAT-1,2\r\n"), b"", keep_ids=True)


def test_features_that_are_nan_in_every_study_are_recorded_not_raised(cohort):
    # Texture features of one-voxel ROIs (families = ["ngtdm"]) are NaN in every study: no column was
    # left, and scikit-learn's imputer raised 'Found array with 0 feature(s)' after every study was
    # measured. Each task now records why it was not fitted.
    learning, studies = cohort
    rows = [
        {"study": study, "patient": patient, "modality": "CT", "ngt_coarseness": float("nan")}
        for patient, study, _ in studies
    ]
    models, scores, predictions = fit_tasks(rows, learning, read_labels(learning, b"", keep_ids=True))
    assert models == {} and predictions == {}
    assert set(scores) == {"classification", "regression", "clustering"}
    for task in scores.values():
        assert task["error"].startswith("FeatureError: no feature has a value in any of the 72 studies")


@pytest.mark.parametrize("rare", [1, 2])
def test_folds_count_the_patients_of_the_rarest_class(tmp_path, rare):
    # One patient of class 1 with three studies: the folds were limited by the class's 3 studies, so
    # a fold trained without class 1 and the task failed with "y holds one class only ([0])", though
    # the labels hold two classes. The folds are now at most the rarest class's patients.
    import pandas as pd

    rng = np.random.default_rng(rare)
    patients = {f"A{k}": 1 for k in range(rare)} | {f"B{k}": 0 for k in range(5)}
    (tmp_path / "labels.csv").write_text(
        "patient_id,y\n" + "".join(f"{p},{y}\n" for p, y in patients.items())
    )
    learning = Learning(
        labels=tmp_path / "labels.csv",
        folds=5,
        tasks=(Task("classification", "logistic_regression", "y"),),
    )
    rows = [
        {"study": f"{p}-{k}", "patient": p, "f1": rng.normal() + 2 * y, "f2": rng.normal()}
        for p, y in patients.items()
        for k in range(3)
    ]
    models, scores, _ = fit_tasks(rows, learning, read_labels(learning, b"", keep_ids=True))
    table = pd.DataFrame(rows).assign(y=lambda t: t["patient"].map(patients))
    expected = min(5, table.groupby("y")["patient"].nunique().min())
    assert "error" not in scores["classification"] and "classification" in models
    assert scores["classification"]["folds"] == expected == rare
    assert ("accuracy" in scores["classification"]) == (expected >= 2)  # cross-validated from 2 folds on
    # Not cross-validated, the metrics say why (they said folds 1, and the report nothing).
    assert ("not_cross_validated" in scores["classification"]) == (expected < 2)
    if expected < 2:
        assert scores["classification"]["not_cross_validated"].startswith(
            "class 1 has one patient, and each fold of a patient-level cross-validation must train on "
            "every class (2 patients of each class at least). The model is fitted on the 18 labelled "
            "studies, without a score"
        )


def test_class_labels_past_int64_stay_texts(cohort, tmp_path):
    # Class labels that are whole numbers past int64 (codes of 20 digits) raised NumPy's
    # OverflowError, and the run ended in its traceback after every study was measured.
    learning, studies = cohort
    with open(learning.labels, newline="") as file:
        rows = list(csv.reader(file))
    codes = {"0": "10000000000000000001", "1": "10000000000000000002"}
    with open(tmp_path / "codes.csv", "w", newline="") as file:
        csv.writer(file).writerows([rows[0], *([p, codes[m], g] for p, m, g in rows[1:])])
    learning = dataclasses.replace(learning, labels=tmp_path / "codes.csv", tasks=learning.tasks[:1])
    _, scores, predictions = _fit(learning, studies, b"k" * 32)
    assert scores["classification"]["classes"] == sorted(codes.values())
    assert sorted(set(predictions["classification"]["y"])) == sorted(codes.values())
    assert 0.5 < scores["classification"]["accuracy"] < 1.0


def test_labels_without_their_header_row_name_no_patient(tmp_path):
    # A file saved without its header row takes the first patient's cells for column names: the error
    # listed them ("its columns are ['PAT-000', '0', '0.0']"), the original ID among them.
    learning = _labels(tmp_path, b"PAT-000,0,0.0\nPAT-001,1,2.5\n")
    with pytest.raises(
        ConfigError, match=r"no column 'pid' among its 3 columns; its first row must name"
    ) as info:
        read_labels(learning, b"", keep_ids=False)
    assert "PAT-000" not in str(info.value)


def test_a_classifier_without_probabilities_is_scored_by_its_decision_function(cohort):
    # svm with probability = false has no predict_proba: the ROC AUC asked for it, and the run ended
    # in AttributeError after every study was measured.
    from sklearn.metrics import roc_auc_score

    learning, studies = cohort
    task = Task("classification", "svm", "malignant", {"probability": False})
    learning = dataclasses.replace(learning, tasks=(task,))
    _, scores, predictions = _fit(learning, studies, bytes(32))
    scored, predicted = scores["classification"], predictions["classification"]
    assert "error" not in scored and set(scored["classes"]) == {0, 1}
    # A decision function's values, not probabilities: both signs.
    assert predicted["score"].min() < 0 < predicted["score"].max()
    expected = roc_auc_score(predicted["y"] == 1, predicted["score"])
    assert scored["roc_auc"] == pytest.approx(expected, abs=1e-12)
    assert scored["accuracy"] == pytest.approx(accuracy_score(predicted["y"], predicted["y_pred"]))


@pytest.mark.parametrize(
    ("names", "class_weight"),
    [
        ({"0": "benign", "1": "malignant"}, {"benign": 1.0, "malignant": 3.0}),  # text classes
        ({"0": "0", "1": "1"}, {"0": 1.0, "1": 3.0}),  # whole numbers: a TOML table's keys are text
    ],
)
def test_class_weight_is_given_by_the_labels_of_the_file(cohort, tmp_path, names, class_weight):
    # Text classes: scikit-learn's cross_val_predict(method="predict_proba") fits on the classes' codes,
    # and refused the weights ("The classes, [0, 1], are not in class_weight"); classes of whole numbers
    # are integers, which the text keys of a spec's table never named (the same refusal).
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from gpuimg.ml import patient_cv

    learning, studies = cohort
    with open(learning.labels, newline="") as file:
        rows = list(csv.reader(file))
    with open(tmp_path / "named.csv", "w", newline="") as file:
        csv.writer(file).writerows([rows[0], *([p, names[m], g] for p, m, g in rows[1:])])
    task = Task("classification", "logistic_regression", "malignant", {"class_weight": class_weight})
    learning = dataclasses.replace(learning, labels=tmp_path / "named.csv", tasks=(task,))
    key = bytes(32)
    _, scores, predictions = _fit(learning, studies, key)
    scored, predicted = scores["classification"], predictions["classification"]
    assert "error" not in scored, scored
    # The reference: scikit-learn on the classes coded 0 and 1, weights keyed by the codes, the same
    # patient folds (patients numbered in the labels file's order) and the studies in the same order.
    features = {pseudonym(key, "study", study): (patient, x) for patient, study, x in studies}
    X = np.array([features[study][1] for study in predicted["study"]])
    groups = np.array([int(features[study][0][1:]) for study in predicted["study"]])
    y = (predicted["y"].astype(str) == names["1"]).astype(int)
    reference = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(class_weight={0: 1.0, 1: 3.0}),
    )
    cv = patient_cv(learning.folds, stratify=True, random_state=learning.random_state)
    expected = cross_val_predict(reference, X, y, groups=groups, cv=cv, method="predict_proba")[:, 1]
    # The same fits on the same rows; only the summation order of the solver's float64 sums may differ.
    np.testing.assert_allclose(predicted["score"], expected, rtol=1e-9, atol=1e-12)
    assert scored["roc_auc"] == pytest.approx(roc_auc_score(y, expected), abs=1e-12)
    unweighted = cross_val_predict(
        reference.set_params(logisticregression__class_weight=None),
        X,
        y,
        groups=groups,
        cv=cv,
        method="predict_proba",
    )[:, 1]
    assert np.abs(unweighted - expected).max() > 0.01  # the weights were used


@pytest.mark.parametrize("keys", [("0", "1"), ("0.0", "1.0")])
def test_classes_written_as_whole_numbers_either_way_are_one_class(cohort, tmp_path, keys):
    # pandas writes a column of 0 and 1 with a missing label as 0.0 and 1.0, and a sheet merged from
    # two files holds both spellings: only "0" and "1" were read as integers, so the classes were the
    # texts "0", "0.0", "1", "1.0" (four classes, scored as such) where pandas reads two, and a
    # class_weight of 0 and 1 named none of them; keys 0.0 and 1.0 named no class of "0" and "1".
    # The reference: pandas' reading of the file.
    import pandas as pd

    learning, studies = cohort
    with open(learning.labels, newline="") as file:
        rows = list(csv.reader(file))
    spelt = [[p, f"{m}.0" if k % 2 else m, g] for k, (p, m, g) in enumerate(rows[1:])]
    with open(tmp_path / "spelt.csv", "w", newline="") as file:
        csv.writer(file).writerows([rows[0], *spelt, ["P99", "", "0.5"]])  # a patient without its class
    weights = dict(zip(keys, (1, 3), strict=True))
    task = Task("classification", "logistic_regression", "malignant", {"class_weight": weights})
    key = bytes(32)
    tables = {}
    for name in ("labels.csv", "spelt.csv"):
        tables[name] = _fit(
            dataclasses.replace(learning, labels=tmp_path / name, tasks=(task,)), studies, key
        )
    _, scores, predictions = tables["spelt.csv"]
    read = pd.read_csv(tmp_path / "spelt.csv", dtype={"patient_id": str}).dropna(subset=["malignant"])
    assert scores["classification"]["classes"] == sorted(read["malignant"].unique()) == [0.0, 1.0]
    patients = {pseudonym(key, "study", study): patient for patient, study, _ in studies}
    truth = dict(zip(read["patient_id"], read["malignant"], strict=True))
    expected = [truth[patients[study]] for study in predictions["classification"]["study"]]
    np.testing.assert_array_equal(predictions["classification"]["y"], expected)
    # The spelling changes nothing: the scores of the file of "0" and "1".
    assert scores == tables["labels.csv"][1]


def test_a_regression_of_two_patients_is_fitted_without_a_meaningless_score(tmp_path):
    # A target is a patient's: with two labelled patients, each fold of the cross-validation trained
    # on one patient, so its model predicted that patient's target for every study of the other, and
    # the metrics gave R² = 1 - n**2 / (n_a n_b) (-3 for 3 studies each) whatever the features, here
    # a feature that is the target. The metrics now say why there is no score; the model is fitted.
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.model_selection import GroupKFold, cross_val_predict

    growth = {"A": 1.0, "B": 4.0}
    (tmp_path / "labels.csv").write_text("patient_id,g\n" + "".join(f"{p},{g}\n" for p, g in growth.items()))
    learning = Learning(labels=tmp_path / "labels.csv", tasks=(Task("regression", "ridge", "g"),))
    rows = [
        {"study": f"{p}-{k}", "patient": p, "f1": growth[p] + 0.1 * k, "f2": float(k)}
        for p in growth
        for k in range(3)
    ]
    # What the two folds give, by scikit-learn: -3, the closed form for 3 and 3 studies.
    X = np.array([[row["f1"], row["f2"]] for row in rows])
    y, groups = np.array([growth[row["patient"]] for row in rows]), [row["patient"] for row in rows]
    folded = cross_val_predict(Ridge(), X, y, groups=groups, cv=GroupKFold(2))
    assert r2_score(y, folded) == pytest.approx(1 - 6**2 / (3 * 3)) == -3.0
    models, scores, _ = fit_tasks(rows, learning, read_labels(learning, b"", keep_ids=True))
    assert "regression" in models
    assert scores["regression"] == {
        "n_studies": 6,
        "n_patients": 2,
        "folds": 1,
        "not_cross_validated": "2 patients labelled; a patient-level cross-validation of a regression needs "
        "3 at least (trained on one patient, a model predicts that patient's target for every study). The "
        "model is fitted on the 6 labelled studies, without a score: label more patients.",
    }


def test_two_columns_of_the_id_or_a_target_name_are_refused(tmp_path):
    # csv.DictReader keeps the last of two columns of one name: the patients were keyed by the second
    # ID column (here the referring site's code) and learned from the second target column, where
    # pandas, which a researcher checks the file with, reads the first (and names the other ".1").
    import io

    import pandas as pd

    data = b"pid,grade,site,pid\nPAT-1,2,A,SITE-9\nPAT-2,3,B,SITE-9\n"
    assert pd.read_csv(io.BytesIO(data))["pid"].tolist() == ["PAT-1", "PAT-2"]
    with pytest.raises(ConfigError, match=r"has 2 columns named 'pid', so which one holds the values"):
        read_labels(_labels(tmp_path, data), b"", keep_ids=True)
    learning = dataclasses.replace(
        _labels(tmp_path, b"pid,grade,grade,note,note\nPAT-1,2,1,a,b\n"),
        tasks=(Task("classification", "logistic_regression", "grade"),),
    )
    with pytest.raises(ConfigError, match=r"has 2 columns named 'grade'"):
        read_labels(learning, b"", keep_ids=True)
    regression = dataclasses.replace(learning, tasks=(Task("regression", "ridge", "note"),))
    with pytest.raises(ConfigError, match=r"2 columns named 'note'"):
        read_labels(regression, b"", keep_ids=True)
    # Columns no task uses may share a name.
    kept = dataclasses.replace(learning, tasks=())
    assert read_labels(kept, b"", keep_ids=True) == {"PAT-1": {"pid": "PAT-1", "grade": "1", "note": "b"}}


def test_a_target_that_is_no_column_of_the_labels_is_refused_when_they_are_read(cohort, tmp_path):
    # A misspelt target was found only by the learning step, after every study was measured: the run
    # ended with 'no study has a value' in metrics.json and no model.
    import pandas as pd

    learning, _ = cohort
    assert "malignat" not in pd.read_csv(learning.labels).columns
    misspelt = dataclasses.replace(learning, tasks=(Task("classification", "random_forest", "malignat"),))
    with pytest.raises(
        ConfigError, match=r"learning\.classification\.target='malignat': .* has no such column"
    ):
        read_labels(misspelt, b"", keep_ids=True)


@pytest.mark.parametrize("eps", [0.5, 2.0, 3.0])
def test_dbscan_noise_is_counted_apart_from_the_clusters(cohort, eps):
    # DBSCAN labels noise -1, which is no cluster: metrics.json counted it as one, so a run whose every
    # study was noise (eps too small) said n_clusters 1, and one with a cluster and noise said 2.
    from sklearn.cluster import DBSCAN
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    learning, studies = cohort
    task = Task("clustering", "dbscan", None, {"eps": eps, "min_samples": 5})
    _, scores, _ = _fit(dataclasses.replace(learning, tasks=(task,)), studies, b"k" * 32)
    # scikit-learn's DBSCAN on the standardised features (its example's count of clusters and noise).
    X = np.array([features for _, _, features in studies])
    labels = make_pipeline(
        SimpleImputer(strategy="median"), StandardScaler(), DBSCAN(eps=eps, min_samples=5)
    ).fit_predict(X)
    found = {"n_clusters": len(set(labels) - {-1}), "n_noise": int(np.sum(labels == -1))}
    assert {k: scores["clustering"].get(k) for k in found} == found


def test_a_regression_target_of_one_value_is_recorded_as_such(cohort):
    # Every labelled study with the same growth: the task was recorded as 'r2 is undefined for a
    # constant y_true; use mse or mae', advice no spec can follow.
    learning, studies = cohort
    with open(learning.labels) as file:
        rows = list(csv.reader(file))
    with open(learning.labels, "w", newline="") as file:
        csv.writer(file).writerows(
            [rows[0], *([patient, malignant, "1.5"] for patient, malignant, _ in rows[1:])]
        )
    _, scores, _ = _fit(learning, studies, b"k" * 32)
    assert scores["regression"]["error"] == (
        "ConfigError: learning.regression.target='growth' has one value (1.5) in all 72 labelled studies: "
        "there is nothing to predict. Check the column of the labels file."
    )
    assert "accuracy" in scores["classification"] and "silhouette" in scores["clustering"]


def test_studies_sharing_one_patient_id_are_told_so(tmp_path):
    """An anonymiser writing 'ANON' as every study's PatientID makes the cohort one patient: the metrics
    said '1 patient labelled ... label more patients', with no word that the 6 studies share the ID.
    They say how many share it and what to do, never the ID (nor its pseudonym)."""
    import pandas as pd

    (tmp_path / "labels.csv").write_text("patient_id,y,g\nANON,1,0.5\n")
    learning = Learning(
        labels=tmp_path / "labels.csv",
        tasks=(Task("classification", "logistic_regression", "y"), Task("regression", "ridge", "g")),
    )
    key = b"k" * 32
    shared = pseudonym(key, "patient", "ANON")
    rng = np.random.default_rng(0)
    rows = [{"study": f"S{k}", "patient": shared, "f1": rng.normal(), "f2": rng.normal()} for k in range(6)]
    assert pd.DataFrame(rows)["patient"].nunique() == 1  # the reference: one ID for the 6 studies
    _, scores, _ = fit_tasks(rows, learning, read_labels(learning, key, keep_ids=False))
    advice = (
        "all 6 labelled studies carry the same patient ID, so they count as one patient (as when an "
        "anonymiser writes one ID for every patient). Anonymise the studies with an ID per patient and "
        "key the labels file by those IDs"
    )
    why = scores["regression"]["not_cross_validated"]
    assert why.startswith("1 patient labelled") and advice in why and "label more patients" not in why
    error = scores["classification"]["error"]
    assert (
        error.startswith("ConfigError: learning.classification.target='y' has one class: ")
        and advice in error
    )
    for message in (why, error):
        assert "ANON" not in message and shared not in message


@pytest.mark.parametrize(
    ("features", "n_clusters", "why"),
    [
        # Four studies of equal features (a phantom scanned four times): one cluster, not two.
        ([[1.0, 2.0]] * 4, 2, "all 4 studies fell in one cluster"),
        ([[0.0, 1.0], [5.0, 1.0], [9.0, 4.0]], 3, "each of the 3 studies is a cluster of its own"),
        ([[0.0, 1.0], [5.0, 1.0]], 2, "2 studies: the silhouette needs 3 at least"),
    ],
)
def test_a_clustering_without_a_silhouette_says_why(features, n_clusters, why):
    # metrics.json said silhouette null, the report and `gpuimg run` 'n/a', without a word of why; the
    # studies of equal features also printed k-means' ConvergenceWarning on the console.
    import warnings

    from sklearn.metrics import silhouette_score

    from gpuimg.cohort.report import build_report

    rows = [
        {"study": f"S-{k}", "patient": f"P-{k}", "modality": "CT", "f0": a, "f1": b}
        for k, (a, b) in enumerate(features)
    ]
    task = Task("clustering", "kmeans", None, {"n_clusters": n_clusters, "n_init": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, scores, predictions = fit_tasks(rows, Learning(tasks=(task,)), {})
    clustering = scores["clustering"]
    # scikit-learn's silhouette is undefined for these clusters (2 to n - 1 labels), and so is ours.
    with pytest.raises(ValueError, match="Number of labels"):
        silhouette_score(np.array(features), predictions["clustering"]["clusters"])
    assert np.isnan(clustering["silhouette"]) and clustering["no_silhouette"].startswith(why)
    manifest = {"studies": len(rows), "device": "cpu", "gpuimg": "0", "pseudonymised": True}
    text = report_text(build_report(rows, [], [], scores, predictions, manifest | {"time_per_stage_s": {}}))
    assert "no_silhouette" + clustering["no_silhouette"] in text
