"""The pipeline spec is checked whole before any study is read; each error names its key and the fix."""

import pytest
from cohort_data import write_study

from gpuimg import ConfigError
from gpuimg.cohort import load_spec, spec_from_dict
from gpuimg.features import FAMILIES


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, r"mask\.source is missing"),
        ({"mask": {"source": "voxel-model"}}, r"mask\.source='voxel-model' is not allowed"),
        ({"mask": {"source": "file"}}, r"mask\.pattern is needed"),
        ({"mask": {"source": "recipe", "threshold": [5, 1]}}, r"mask\.threshold=\[5, 1\]"),
        # TOML's nan and inf passed: every study then failed (an empty mask, an infinite radius).
        ({"mask": {"source": "recipe", "threshold": [float("nan"), 1]}}, r"mask\.threshold=\[nan, 1\]"),
        (
            {"mask": {"source": "recipe", "threshold": [0, 1], "opening_mm": float("inf")}},
            r"mask\.opening_mm=inf must be a finite radius",
        ),
        ({"mask": {"source": "rtstruct", "colour": 1}}, r"mask: unknown key\(s\) \['colour'\]"),
        # A key of another source was ignored without a word: the ROI name beside a mask file, a label
        # number with a SEG, a threshold with a structure set.
        (
            {"mask": {"source": "file", "pattern": "m.nrrd", "roi": "GTV"}},
            r"mask: mask\.roi does not apply to mask\.source = 'file', which takes "
            r"\['pattern', 'label', 'resample'\]; "
            r".*\(roi: 'rtstruct' or 'seg'\)",
        ),
        ({"mask": {"source": "seg", "label": 2}}, r"mask\.label does not apply to mask\.source = 'seg'"),
        # Resampling a mask onto the image's grid is for a mask file only: a structure set or SEG is
        # drawn on the image's own grid by its reader.
        (
            {"mask": {"source": "file", "pattern": "m.nrrd", "resample": "yes"}},
            r"mask\.resample='yes' must be",
        ),
        (
            {"mask": {"source": "rtstruct", "resample": True}},
            r"mask\.resample does not apply to mask\.source = 'rtstruct'.*\(resample: 'file'\)",
        ),
        (
            {"mask": {"source": "rtstruct", "threshold": "otsu", "largest": True}},
            r"mask: mask\.largest, mask\.threshold do not apply to mask\.source = 'rtstruct'",
        ),
        ({"mask": {"source": "rtstruct"}, "inputs": {}}, r"the spec: unknown key\(s\) \['inputs'\]"),
        ({"mask": {"source": "rtstruct"}, "input": {"min_slices": 0}}, r"input\.min_slices=0"),
        # A mask's modality as the image's: the SEG is never the image, a structure set holds no pixels,
        # so every study failed with 'no series matches'.
        (
            {"mask": {"source": "seg"}, "input": {"modality": "seg"}},
            r"input\.modality='seg' is a mask, not the image series; .*mask\.source = \"seg\"",
        ),
        (
            {"mask": {"source": "rtstruct"}, "input": {"modality": "RTSTRUCT"}},
            r"input\.modality='RTSTRUCT' is a mask",
        ),
        ({"mask": {"source": "rtstruct"}, "input": {"description": "("}}, r"input\.description='\(' is not"),
        ({"mask": {"source": "rtstruct"}, "preprocess": [{"step": "blur"}]}, r"preprocess\[0\]\.step='blur'"),
        (
            {"mask": {"source": "rtstruct"}, "preprocess": [{"step": "gaussian_filter", "radius": 2}]},
            r"preprocess\[0\] \(gaussian_filter\): .*radius",
        ),
        (
            {"mask": {"source": "rtstruct"}, "features": {"families": ["wavelet"]}},
            r"features\.families: 'wavelet'",
        ),
        # A nested list was looked up in the families' dict: TypeError 'unhashable type'.
        (
            {"mask": {"source": "rtstruct"}, "features": {"families": [["glcm", "glrlm"]]}},
            r"features\.families: \['glcm', 'glrlm'\] is not a feature family",
        ),
        ({"mask": {"source": "rtstruct"}, "features": {"n_bins": 0}}, r"features: n_bins=0"),
        (
            {"mask": {"source": "rtstruct"}, "learning": {"classification": {"target": "y"}}},
            r"learning\.classification needs learning\.labels",
        ),
        (
            {"mask": {"source": "rtstruct"}, "learning": {"labels": "l.csv", "regression": {}}},
            r"learning\.regression\.target is missing",
        ),
        (
            {"mask": {"source": "rtstruct"}, "learning": {"clustering": {"estimator": "spectral"}}},
            r"learning\.clustering: .*spectral",
        ),
        (
            {"mask": {"source": "rtstruct"}, "learning": {"clustering": {"params": {"n_clusterz": 2}}}},
            r"learning\.clustering: .*n_clusterz",
        ),
        ({"mask": {"source": "rtstruct"}, "privacy": {"keep_ids": "yes"}}, r"privacy\.keep_ids='yes'"),
        # A clustering target was ignored without a word, a number as target matched no column.
        (
            {"mask": {"source": "rtstruct"}, "learning": {"labels": "l.csv", "clustering": {"target": "y"}}},
            r"learning\.clustering: unknown key\(s\) \['target'\]",
        ),
        # The original IDs as targets reached metrics.json, report.html and run.log (the regression's
        # 'could not convert string to float: ...', the classes), and the model's classes.
        (
            {
                "mask": {"source": "rtstruct"},
                "learning": {"labels": "l.csv", "classification": {"target": "patient_id"}},
            },
            r"learning\.classification\.target='patient_id' is the patient ID column",
        ),
        (
            {
                "mask": {"source": "rtstruct"},
                "learning": {"labels": "l.csv", "id_column": "MRN", "regression": {"target": "MRN"}},
            },
            r"learning\.regression\.target='MRN' is the patient ID column",
        ),
        (
            {"mask": {"source": "rtstruct"}, "learning": {"labels": "l.csv", "regression": {"target": 3}}},
            r"learning\.regression\.target=3 must be a non-empty string",
        ),
        # Out of the study folder: Path.glob's NotImplementedError in every study, or, through "..",
        # one study's mask taken for every study without a word.
        (
            {"mask": {"source": "file", "pattern": "/data/masks/*.nrrd"}},
            r"mask\.pattern='/data/masks/\*\.nrrd' must be a glob inside each study folder",
        ),
        ({"mask": {"source": "file", "pattern": "./"}}, r"mask\.pattern='\./' must be a glob inside"),
        # A number chooses an ROI of several of one name (test_pipeline); these are none.
        (
            {"mask": {"source": "rtstruct", "roi": True}},
            r"mask\.roi=True must be the ROI's name .* or its number",
        ),
        ({"mask": {"source": "seg", "roi": -1}}, r"mask\.roi=-1 must be the ROI's name"),
        ({"mask": {"source": "rtstruct", "roi": 2.0}}, r"mask\.roi=2\.0 must be the ROI's name"),
        (
            {"mask": {"source": "file", "pattern": "../study_000/mask.nrrd"}},
            r"mask\.pattern='\.\./study_000/mask\.nrrd' must be a glob inside each study folder",
        ),
        # A task given as a value: the message named a table [classification], which is no table of a spec.
        (
            {"mask": {"source": "rtstruct"}, "learning": {"labels": "l.csv", "classification": "label"}},
            r"^learning\.classification must be a table \(\[learning\.classification\]\); got 'label'\.$",
        ),
    ],
)
def test_each_mistake_names_its_key(document, message):
    with pytest.raises(ConfigError, match=message):
        spec_from_dict(document)


def test_a_full_spec_reads(tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text(
        '[input]\nmodality = "pet"\n[mask]\nsource = "rtstruct"\nroi = "GTV"\n'
        '[[preprocess]]\nstep = "median_filter"\nsize = 3\n[features]\nfamilies = ["statistics"]\n'
        'new_spacing = ["keep", 2.0, 2.0]\n[learning]\nlabels = "y.csv"\n'
        '[learning.classification]\ntarget = "label"\nestimator = "svm"\nparams = { C = 2.0 }\n'
    )
    spec = load_spec(path)
    assert spec.selection.modality == "PT"  # PET's DICOM modality
    assert spec.steps == (("median_filter", {"size": 3}),)
    assert spec.settings.new_spacing == (None, 2.0, 2.0) and spec.families == ("statistics",)
    assert spec.learning.labels == tmp_path / "y.csv"
    assert spec.learning.tasks[0].params == {"C": 2.0}
    assert load_spec(path).study_hash == spec.study_hash


def test_families_default_to_all_present(tmp_path):
    # Texture families join gpuimg.features.FAMILIES as they land; a spec without a list takes them all.
    assert spec_from_dict({"mask": {"source": "recipe", "threshold": "otsu"}}).families == tuple(FAMILIES)


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the pipeline spec"):
        load_spec(tmp_path / "absent.toml")
    (tmp_path / "bad.toml").write_text("[mask\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_spec(tmp_path / "bad.toml")


def test_a_spec_given_as_its_folder_names_the_file_to_pass(tmp_path, capsys):
    # gpuimg run DIR, DIR holding the spec (or an earlier run's output folder, to run it again): the
    # message was "cannot read the pipeline spec DIR: [Errno 21] Is a directory: 'DIR'. Check the path."
    import json

    from gpuimg.cli import main

    folder, outputs, empty = tmp_path / "project", tmp_path / "results", tmp_path / "empty"
    for made in (folder, outputs, empty):
        made.mkdir()
    (folder / "pipeline.toml").write_text('[mask]\nsource = "recipe"\nthreshold = "otsu"\n')
    (folder / "labels.csv").write_text("patient_id,y\n")
    spec = spec_from_dict({"mask": {"source": "recipe", "threshold": [-400, 400]}})
    (outputs / "manifest.json").write_text(json.dumps({"spec": spec.to_dict()}))
    for given, advice, loaded in (
        (folder, f"pass the file itself: {folder / 'pipeline.toml'} (a spec file in it)", "otsu"),
        (
            outputs,
            f"pass the file itself: {outputs / 'manifest.json'} (the spec of the run whose outputs it holds)",
            (-400.0, 400.0),
        ),
        (empty, "pass the spec's TOML file", None),
    ):
        with pytest.raises(ConfigError) as info:
            load_spec(given)
        assert str(info.value) == f"the pipeline spec {given} is a folder; {advice}."
        if loaded is not None:  # the file named is the spec
            assert load_spec(advice.split(": ")[1].split(" (")[0]).mask.threshold == loaded
    assert main(["run", str(folder), "--input", str(empty), "--output", str(tmp_path / "out")]) == 1
    assert f"is a folder; pass the file itself: {folder / 'pipeline.toml'}" in capsys.readouterr().err


def test_random_state_is_a_seed_scikit_learn_takes():
    # A seed past 2**32 - 1 (a time stamp, 20240101120000) passed the spec and ended the run in a
    # traceback from scikit-learn's splitter, after every study was measured.
    from sklearn.utils import check_random_state

    document = {"mask": {"source": "rtstruct"}, "learning": {"random_state": 2**32 - 1}}
    check_random_state(spec_from_dict(document).learning.random_state)
    document["learning"]["random_state"] = 20240101120000
    with pytest.raises(ValueError):
        check_random_state(20240101120000)
    with pytest.raises(
        ConfigError, match=r"learning\.random_state=20240101120000 must be a whole number from 0"
    ):
        spec_from_dict(document)


def test_a_spec_saved_with_a_byte_order_mark_or_not_in_utf8(tmp_path):
    # Windows Notepad's byte order mark was 'not valid TOML: Invalid statement (at line 1, column 1)';
    # a Latin-1 comment ('# résumé') was a UnicodeDecodeError traceback.
    import tomllib

    text = '[mask]\nsource = "recipe"\nthreshold = [-100, 200]\n# r\u00e9sum\u00e9\n'
    path = tmp_path / "pipeline.toml"
    path.write_bytes(text.encode("utf-8-sig"))
    assert load_spec(path).source == tomllib.loads(text)
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(
        ConfigError, match=r"is not UTF-8 text \(line 4 holds the byte b'\\xe9'\); save it in UTF-8"
    ):
        load_spec(path)


def test_an_infinite_threshold_bound_is_no_bound():
    spec = spec_from_dict({"mask": {"source": "recipe", "threshold": [float("-inf"), 200]}})
    assert spec.mask.threshold == (float("-inf"), 200.0)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            {"step": "gaussian_filter", "sigma": -1.0},
            r"preprocess\[0\] \(gaussian_filter\): sigma=-1\.0 must be",
        ),
        ({"step": "window", "level": 40, "width": 0}, r"preprocess\[0\] \(window\): width=0 must be"),
        ({"step": "window", "level": "lungs"}, r"preprocess\[0\] \(window\): window 'lungs' is unknown"),
        ({"step": "median_filter", "size": 2.5}, r"preprocess\[0\] \(median_filter\): size=2\.5 must be"),
        ({"step": "clahe", "clip_limit": -0.1}, r"preprocess\[0\] \(clahe\): clip_limit=-0\.1 must be"),
    ],
)
def test_a_step_value_the_step_refuses_is_one_error_before_any_study(step, message, tmp_path, capsys):
    # Only the names of a step's parameters were checked: a negative sigma or a window of no width
    # passed, and each study of the cohort was read, then recorded as failed with the same
    # ParameterError (the run 'succeeded' with 0 feature rows).
    from gpuimg.cli import main

    for study in ("a", "b"):
        (tmp_path / "in" / study).mkdir(parents=True)
    path = tmp_path / "p.toml"
    lines = [f"{k} = {v!r}".replace("'", '"') for k, v in step.items()]
    path.write_text('[mask]\nsource = "recipe"\nthreshold = "otsu"\n[[preprocess]]\n' + "\n".join(lines))
    with pytest.raises(ConfigError, match=message):
        load_spec(path)
    argv = ["run", str(path), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("ConfigError") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # no study read, nothing written


def test_a_step_is_tried_with_the_values_the_studies_take():
    # The values a real image takes pass (a kernel wider than the 8-voxel probe, presets, mm).
    steps = [
        {"step": "median_filter", "size": 9},
        {"step": "clahe", "kernel_size": 64},
        {"step": "window", "level": "lung"},
        {"step": "gaussian_filter", "sigma_mm": 20.0},
        {"step": "bilateral_filter", "sigma_spatial_mm": 3.0, "sigma_range": 50.0},
        {"step": "rescale_intensity", "in_range": [-1000, 400]},
    ]
    spec = spec_from_dict({"mask": {"source": "rtstruct"}, "preprocess": steps})
    assert [name for name, _ in spec.steps] == [s["step"] for s in steps]


@pytest.mark.parametrize("step", ["gaussian_filter", "anisotropic_diffusion"])
def test_a_steps_spacing_is_refused_as_each_studys_own(step, tmp_path):
    # spacing = [1, 1, 1] passed the check on the 1 mm probe; then each study of other voxels (the demo
    # nodule's 2 x 1.25 x 1.25 mm) failed, with a hint in Python's words (dataclasses.replace(volume, ...)).
    import gpuimg
    from gpuimg.errors import ParameterError

    write_study(tmp_path / "s", 1, patient_id="P")
    image = gpuimg.read_dicom(tmp_path / "s" / "ct", device="cpu")
    params = {"sigma_mm": 2.0} if step == "gaussian_filter" else {}
    with pytest.raises(ParameterError, match="a Volume brings its own"):  # the library, called directly
        getattr(gpuimg.preprocess, step)(image, **params, spacing=[1, 1, 1])
    document = {
        "mask": {"source": "rtstruct"},
        "preprocess": [{"step": step, **params, "spacing": [1, 1, 1]}],
    }
    with pytest.raises(
        ConfigError, match=rf"preprocess\[0\] \({step}\): spacing = \[1, 1, 1\] is each study's own"
    ):
        spec_from_dict(document)


@pytest.mark.parametrize(
    ("kind", "estimator", "params"),
    [
        ("classification", "random_forest", {"n_estimators": 0}),
        ("classification", "svm", {"C": -1.0}),
        ("regression", "ridge", {"alpha": -1.0}),
        ("clustering", "kmeans", {"n_clusters": 0}),
    ],
)
def test_estimator_values_scikit_learn_refuses_are_refused_with_the_spec(kind, estimator, params):
    # Only the names of an estimator's parameters were checked: n_estimators = 0 passed, every study
    # was measured, and the task then failed in fit.
    import numpy as np
    from sklearn.base import clone
    from sklearn.cluster import KMeans
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import Ridge
    from sklearn.svm import SVC

    reference = {"random_forest": RandomForestClassifier, "svm": SVC, "ridge": Ridge, "kmeans": KMeans}
    X, y = np.arange(16.0).reshape(8, 2), np.array([0, 1] * 4)
    with pytest.raises(ValueError, match=f"The '{next(iter(params))}' parameter"):
        clone(reference[estimator](**params)).fit(X, y)
    entry = {"estimator": estimator, "params": params, **({} if kind == "clustering" else {"target": "y"})}
    document = {"mask": {"source": "rtstruct"}, "learning": {"labels": "l.csv", kind: entry}}
    with pytest.raises(ConfigError, match=rf"learning\.{kind}: .*The '{next(iter(params))}' parameter"):
        spec_from_dict(document)


def test_estimator_values_the_data_decide_are_left_to_fit():
    # More clusters than a cohort may have studies: only the data can say.
    entry = {"estimator": "kmeans", "params": {"n_clusters": 500}}
    spec = spec_from_dict({"mask": {"source": "rtstruct"}, "learning": {"clustering": entry}})
    assert spec.learning.tasks[0].params == {"n_clusters": 500}


def test_the_study_hash_follows_the_checked_spec_not_its_document():
    # The stored studies of an output folder are reused under the spec's study_hash. It was a digest of
    # the TOML document (spec.source): a Spec changed with dataclasses.replace, and a spec whose dict
    # the caller changed after spec_from_dict (one spec per bin width in a loop), kept the hash of the
    # document, so a run of the changed spec took the earlier spec's rows.
    import dataclasses

    document = {
        "mask": {"source": "recipe", "threshold": [-100, 200]},
        "features": {"families": ["statistics"]},
    }
    spec = spec_from_dict(document)
    changed = {
        "families": ("morphology",),
        "feature_image": "original",
        "edges": "sobel",
        "steps": (("gaussian_filter", {"sigma": 1.0}),),
        "mask": dataclasses.replace(spec.mask, threshold=(-50.0, 200.0)),
        "selection": dataclasses.replace(spec.selection, min_slices=5),
        "settings": dataclasses.replace(spec.settings, n_bins=16),
    }
    hashes = {dataclasses.replace(spec, **{name: value}).study_hash for name, value in changed.items()}
    assert len(hashes) == len(changed) and spec.study_hash not in hashes
    # What no study's row depends on leaves it as it is: the learning tasks, and the document itself.
    other_learning = dataclasses.replace(spec.learning, folds=3)
    assert dataclasses.replace(spec, learning=other_learning, source={}).study_hash == spec.study_hash
    before = spec.study_hash
    document["features"]["families"] = ["morphology"]
    assert spec.study_hash == before and spec.source["features"]["families"] == ["statistics"]
    assert spec_from_dict(document).study_hash != before


def test_resampling_the_mask_file_is_part_of_the_study_hash():
    # A run with mask.resample switched on must not reuse the rows (or the errors: a mask on another
    # grid refused) that a run with it off stored in the same output folder.
    off, on = (
        spec_from_dict({"mask": {"source": "file", "pattern": "mask.nrrd", "resample": value}})
        for value in (False, True)
    )
    assert (off.mask.resample, on.mask.resample) == (False, True)
    assert off.study_hash != on.study_hash
    assert spec_from_dict({"mask": {"source": "file", "pattern": "mask.nrrd"}}).study_hash == off.study_hash


@pytest.mark.parametrize(
    "document",
    [
        {
            "input": {"modality": "pet", "description": "ax.*", "min_slices": 3, "allow_gaps": True},
            "mask": {"source": "rtstruct", "roi": 3},
            "preprocess": [
                {"step": "window", "level": 40, "width": 400},
                {"step": "gaussian_filter", "sigma": [1, 2, 2]},
            ],
            "features": {
                "new_spacing": ["keep", 2.0, 2.0],
                "interpolation": "cubic",
                "reseg_range": [-1000, float("inf")],
                "discretisation": "fbs",
                "bin_width": 10,
                "texture_approaches": ["2d", "3d"],
                "ivh_discretisation": "fbs",
            },
            "privacy": {"keep_ids": True},
        },
        {
            "mask": {"source": "recipe", "threshold": "otsu", "opening_mm": 1, "largest": False},
            "edges": {"operator": "scharr"},
            "features": {"families": ["statistics"], "image": "original", "n_bins": 16},
            "learning": {"labels": "labels.csv", "folds": 3, "regression": {"target": "growth"}},
        },
        {"mask": {"source": "file", "pattern": "seg/*.nii.gz", "label": 2, "resample": True}},
    ],
)
def test_a_spec_as_a_dict_reads_back_as_itself(document, tmp_path):
    """``Spec.to_dict`` (the manifest's record of a run's spec) through JSON, as manifest.json keeps
    it, and from another folder: the same spec and study hash, each key of the document as given
    (TOML's "keep" for an axis kept, the labels file's path made absolute)."""
    import json

    spec = spec_from_dict(document, base=tmp_path)
    recorded = json.loads(json.dumps(spec.to_dict()))
    again = spec_from_dict(recorded, base=tmp_path / "elsewhere")
    assert again == spec and again.study_hash == spec.study_hash
    for table, keys in document.items():
        if table == "preprocess":
            assert recorded[table] == keys
            continue
        for key, value in keys.items():
            if key == "labels":
                value = str(tmp_path / value)
            given = recorded[table][key]
            if isinstance(value, dict):  # a learning task, with its defaults (estimator, params) added
                given = {k: given[k] for k in value}
            assert given == value or (key == "modality" and given == "PT"), (table, key)


def test_a_manifest_that_holds_no_spec_is_refused(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text('{"gpuimg": "1.0"}')
    with pytest.raises(ConfigError, match=r"holds no spec \(its key 'spec' is missing\); pass a gpuimg run"):
        load_spec(path)
    path.write_text('{"spec": ')
    with pytest.raises(ConfigError, match=r"manifest\.json is not valid JSON \(.*\); pass a run's manifest"):
        load_spec(path)
