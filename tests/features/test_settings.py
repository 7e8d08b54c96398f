"""Settings of the IBSI processing chain: checks, TOML files and the IBSI cases."""

import dataclasses
import math
import re

import numpy as np
import pytest

from gpuimg.errors import ConfigError
from gpuimg.features import Settings, ibsi_settings


def test_toml_file_gives_the_same_settings(tmp_path):
    path = tmp_path / "radiomics.toml"
    path.write_text(
        "[features]\n"
        'new_spacing = ["keep", 2.0, 2.0]\n'
        'interpolation = "cubic"\n'
        "round_intensities = true\n"
        "reseg_range = [-1000.0, inf]\n"
        "outlier_sigma = 3.0\n"
        'discretisation = "fbs"\n'
        "bin_width = 25.0\n"
        'ivh_discretisation = "none"\n'
    )
    settings = Settings.from_toml(path)
    assert settings == Settings(
        new_spacing=(None, 2.0, 2.0),
        interpolation="cubic",
        round_intensities=True,
        reseg_range=(-1000.0, math.inf),
        outlier_sigma=3.0,
        discretisation="fbs",
        bin_width=25.0,
        ivh_discretisation="none",
    )
    assert settings.order == 3


def test_a_pipeline_spec_gives_its_processing_chain(tmp_path):
    """The README: the chain is a Settings or a TOML file, and from_toml reads a [features] table; the
    spec that gpuimg demo writes (and gpuimg run reads) has families and image there, which are spec
    keys (regression: 'unknown settings ['image']'). Its chain is the one load_spec finds; the two keys
    are still refused at a settings file's top level."""
    from gpuimg.cohort import load_spec

    path = tmp_path / "pipeline.toml"
    path.write_text(
        '[mask]\nsource = "recipe"\nthreshold = [-400, 400]\n\n'
        '[features]\nimage = "original"\nfamilies = ["statistics", "glcm"]\n'
        'discretisation = "fbs"\nbin_width = 25.0\nivh_discretisation = "none"\n'
        'new_spacing = ["keep", 1.0, 1.0]\n'
    )
    settings = Settings.from_toml(path)
    assert settings == load_spec(path).settings
    assert settings == Settings(
        discretisation="fbs", bin_width=25.0, ivh_discretisation="none", new_spacing=(None, 1.0, 1.0)
    )
    top = tmp_path / "top.toml"
    top.write_text('image = "original"\nbin_width = 25.0\n')
    with pytest.raises(ConfigError, match=r"unknown settings \['image'\]"):
        Settings.from_toml(top)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"new_spacing": (1.0, 2.0)}, "new_spacing"),
        ({"new_spacing": (0.0, 2.0, 2.0)}, "positive"),
        ({"interpolation": "bspline"}, "interpolation"),
        ({"discretisation": "none"}, "discretisation"),
        ({"ivh_discretisation": "fixed"}, "ivh_discretisation"),
        ({"texture_approaches": "4d"}, "texture_approaches"),
        ({"texture_approaches": ()}, "texture_approaches"),
        ({"texture_aggregations": ["merged", "mean"]}, "texture_aggregations"),
        ({"texture_distance": 0}, "texture_distance"),
        ({"ngldm_coarseness": -1}, "ngldm_coarseness"),
        # near 2**63 the kernels' voxel arithmetic wrapped around (NGTDM NaN or 0 for this ROI's
        # values), from 2**63 NumPy's OverflowError
        ({"texture_distance": 2**63 - 1}, "texture_distance=9223372036854775807 must be a whole number"),
        ({"texture_distance": 10**19}, "texture_distance"),
        ({"ngldm_coarseness": 10**400}, "ngldm_coarseness"),
        ({"partial_volume": 0.0}, "partial_volume"),
        ({"partial_volume": 1.5}, "partial_volume"),
        ({"reseg_range": (400.0, -1000.0)}, "lower <= upper"),
        ({"reseg_range": (-1000.0,)}, "two numbers"),
        ({"outlier_sigma": -3.0}, "outlier_sigma"),
        ({"n_bins": 0}, "n_bins"),
        ({"n_bins": 2.5}, "n_bins"),
        ({"bin_width": -25.0}, "bin_width"),
        ({"ivh_bin_width": math.nan}, "ivh_bin_width"),
        # one number where a sequence belongs (new_spacing = 2.0 in a spec): TypeError 'float' object
        # is not iterable, naming nothing
        ({"new_spacing": 2.0}, "new_spacing=2.0 must be 3 values"),
        ({"reseg_range": 5}, "reseg_range=5 must be two numbers"),
        ({"texture_approaches": 3}, "texture_approaches=3: use one or several"),
        ({"texture_aggregations": 1.0}, "texture_aggregations=1.0: use one or several"),
    ],
)
def test_bad_values_raise_config_error_naming_the_field(values, words):
    with pytest.raises(ConfigError, match=words):
        Settings(**values)


def test_bad_files_raise_config_error_with_the_path(tmp_path):
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("bin_widht = 25\n")
    with pytest.raises(ConfigError, match=r"unknown\.toml.*bin_widht"):
        Settings.from_toml(unknown)
    broken = tmp_path / "broken.toml"
    broken.write_text("bin_width = = 25\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.from_toml(broken)
    with pytest.raises(ConfigError, match="cannot read"):
        Settings.from_toml(tmp_path / "absent.toml")


def test_ibsi_cases_follow_the_configuration_table():
    """Spot checks against ibsi_1_ct_phantom_configurations.csv (IBSI 1, table 5.1)."""
    assert ibsi_settings("A").new_spacing is None
    assert ibsi_settings("b").new_spacing == (None, 2.0, 2.0)
    assert ibsi_settings("C").ivh_discretisation == "fbs" and ibsi_settings("C").ivh_bin_width == 2.5
    assert ibsi_settings("D").reseg_range is None and ibsi_settings("D").outlier_sigma == 3.0
    assert ibsi_settings("E").interpolation == "cubic" and ibsi_settings("E").ivh_n_bins == 1000
    assert ibsi_settings("digital_phantom").discretisation == "fbs"
    with pytest.raises(ConfigError, match="digital_phantom"):
        ibsi_settings("F")


def test_texture_approaches_take_one_or_several_in_a_fixed_order(tmp_path):
    assert Settings(texture_approaches="2.5d").texture_approaches == ("2.5d",)
    assert Settings(texture_approaches=["3d", "2d", "3d"]).texture_approaches == ("2d", "3d")
    path = tmp_path / "texture.toml"
    path.write_text('texture_approaches = ["2d", "2.5d"]\ntexture_aggregations = "merged"\n')
    settings = Settings.from_toml(path)
    assert settings.texture_approaches == ("2d", "2.5d")
    assert settings.texture_aggregations == ("merged",)


def test_numpy_numbers_are_taken_as_python_numbers():
    # NumPy scalars (from an array of candidate bin numbers, a parameter grid) were refused with
    # "n_bins=np.int64(16) must be a whole number of bins"; NumPy's bools still are not numbers.
    given = Settings(
        new_spacing=(None, np.float32(2.0), np.int64(2)),
        partial_volume=np.float32(0.5),
        reseg_range=(np.int16(-1000), np.float64(400.0)),
        outlier_sigma=np.int64(3),
        n_bins=np.int64(16),
        ivh_n_bins=np.uint16(100),
        texture_distance=np.int32(2),
        ngldm_coarseness=np.uint8(1),
    )
    expected = Settings(
        new_spacing=(None, 2.0, 2.0),
        partial_volume=0.5,
        reseg_range=(-1000.0, 400.0),
        outlier_sigma=3.0,
        n_bins=16,
        ivh_n_bins=100,
        texture_distance=2,
        ngldm_coarseness=1,
    )
    assert given == expected
    widths = Settings(
        discretisation="fbs",
        bin_width=np.float32(2.5),
        ivh_discretisation="fbs",
        ivh_bin_width=np.float64(2.5),
    )
    assert widths == Settings(
        discretisation="fbs", bin_width=2.5, ivh_discretisation="fbs", ivh_bin_width=2.5
    )
    assert type(given.n_bins) is int and type(given.ivh_n_bins) is int
    assert type(widths.bin_width) is float and type(widths.ivh_bin_width) is float
    for values in ({"n_bins": np.True_}, {"bin_width": np.bool_(True)}, {"n_bins": np.float64(3.0)}):
        with pytest.raises(ConfigError, match=next(iter(values))):
            Settings(**values)


@pytest.mark.parametrize(
    ("given", "advice"),
    [
        # PyRadiomics' spelling; its binWidth is a fixed bin size, so with discretisation='fbs' (the
        # hint alone led to bin_width=25, refused under the default 'fbn')
        ({"binWidth": 25}, r"for 'binWidth' use 'bin_width' with discretisation='fbs'"),
        ({"bin_widht": 25}, r"for 'bin_widht' use 'bin_width' with discretisation='fbs'"),
        ({"ivh_binwidth": 2.5}, r"for 'ivh_binwidth' use 'ivh_bin_width' with ivh_discretisation='fbs'"),
        ({"nbins": 16}, r"for 'nbins' use 'n_bins' with discretisation='fbn'"),
        ({"reseg_rnage": [-1000, 400]}, r"for 'reseg_rnage' use 'reseg_range'"),
        # PyRadiomics' interpolator; interpolation is used only with new_spacing (the hint alone led
        # to a setting refused without it)
        ({"interpolator": "cubic"}, r"for 'interpolator' use 'interpolation' with new_spacing"),
        ({"partial_volum": 0.4}, r"for 'partial_volum' use 'partial_volume' with new_spacing"),
        (
            {"families": ["glcm"]},
            r"families is extract's own argument: extract\(image, mask, families=\[...\]\)",
        ),
    ],
)
def test_a_misspelt_setting_is_told_its_spelling(given, advice):
    """An unknown setting only listed all the settings; the one meant is named now, and with it the
    settings equal those given by that name."""
    with pytest.raises(
        ConfigError, match=rf"unknown settings \[{next(iter(given))!r}\]; {advice}; the settings are"
    ):
        Settings.from_dict(given)
    meant = re.search(r"use '(\w+)'", advice)
    if meant:
        value = next(iter(given.values()))
        method = re.search(r"with (\w+)='(\w+)'", advice)  # as the hint says
        method = {method[1]: method[2]} if method else {}
        if "with new_spacing" in advice:
            method = {"new_spacing": [2.0, 2.0, 2.0]}
        assert getattr(Settings.from_dict({meant[1]: value, **method}), meant[1]) == (
            tuple(value) if isinstance(value, list) else value
        )


@pytest.mark.parametrize(
    ("values", "words"),
    [
        # PyRadiomics' binWidth=10 kept the default "fbn" with its 32 bins, without a word
        (
            {"bin_width": 10},
            r"bin_width=10 is used only with discretisation='fbs' \(fixed bin size, "
            r"PyRadiomics' binWidth\); add discretisation='fbs', or leave bin_width out \(None\) for 'fbn'",
        ),
        (
            {"discretisation": "fbs", "n_bins": 16},
            r"n_bins=16 is used only with discretisation='fbn'.*"
            r"add discretisation='fbn', or leave n_bins out \(None\) for 'fbs'",
        ),
        (
            {"ivh_bin_width": 2.5},
            r"ivh_bin_width=2.5 is used only with ivh_discretisation='fbs'.*"
            r"add ivh_discretisation='fbs', or leave ivh_bin_width out \(None\) for 'fbn'",
        ),
        (
            {"ivh_discretisation": "fbs", "ivh_n_bins": 1000},
            r"ivh_n_bins=1000 is used only with "
            r"ivh_discretisation='fbn'.* leave ivh_n_bins out \(None\) for 'fbs'",
        ),
        (
            {"ivh_discretisation": "none", "ivh_n_bins": 1000},
            r"ivh_n_bins=1000 is used only with "
            r"ivh_discretisation='fbn'.* for 'none' \(one level per integer intensity\)",
        ),
        (
            {"ivh_discretisation": "none", "ivh_bin_width": 1.0},
            r"ivh_bin_width=1.0 is used only with "
            r"ivh_discretisation='fbs'",
        ),
    ],
)
def test_a_bin_parameter_the_discretisation_does_not_use_is_refused(values, words, tmp_path):
    """Given, the parameter of the other discretisation was silently unused (binWidth in PyRadiomics is
    a fixed bin size; here bin_width=10 alone gave 32 bins). Refused, naming both settings, when made,
    from a dict, from a TOML file and from a pipeline spec."""
    _refused_however_given(values, words, tmp_path)


def test_the_bin_parameter_in_use_has_its_default_and_the_other_none():
    """IBSI and PyRadiomics defaults: 32 bins for "fbn", bins of 25 for "fbs", 1000 IVH bins, 2.5-wide
    IVH bins; the parameter a discretisation does not use is None, not a value that looks used."""
    assert (Settings().n_bins, Settings().bin_width) == (32, None)
    assert (Settings(discretisation="fbs").n_bins, Settings(discretisation="fbs").bin_width) == (None, 25.0)
    assert (Settings().ivh_n_bins, Settings().ivh_bin_width) == (1000, None)
    fbs = Settings(ivh_discretisation="fbs")
    assert (fbs.ivh_n_bins, fbs.ivh_bin_width) == (None, 2.5)
    none = Settings(ivh_discretisation="none")
    assert (none.ivh_n_bins, none.ivh_bin_width) == (None, None)
    # None given is the same as left out, as a dict of every field (dataclasses.asdict) gives it
    assert Settings(discretisation="fbs", n_bins=None, bin_width=None) == Settings(discretisation="fbs")


def test_dataclasses_replace_changes_the_discretisation_with_its_parameter():
    fbs = Settings(discretisation="fbs", bin_width=10.0)
    assert dataclasses.replace(fbs, discretisation="fbn", bin_width=None) == Settings(n_bins=32)
    assert dataclasses.replace(fbs, bin_width=5.0).bin_width == 5.0
    with pytest.raises(ConfigError, match=r"bin_width=10\.0 is used only with discretisation='fbs'"):
        dataclasses.replace(fbs, discretisation="fbn")


def _toml(settings: Settings) -> str:
    """``settings`` as a TOML table, the way a user writes one: None left out (TOML has no null), an
    axis kept as it is "keep", an open upper bound inf."""

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, tuple):
            return "[" + ", ".join('"keep"' if x is None else value(x) for x in v) + "]"
        return "inf" if v == math.inf else repr(v)

    fields = dataclasses.asdict(settings)
    return "[features]\n" + "".join(f"{k} = {value(v)}\n" for k, v in fields.items() if v is not None)


@pytest.mark.parametrize("case", ["digital_phantom", "A", "B", "C", "D", "E"])
def test_every_ibsi_case_round_trips_through_a_dict_and_a_toml_file(case, tmp_path):
    """Each IBSI case's settings, their fields as a dict (None included) and as a TOML file (None left
    out), read back equal: the filled-in bin parameter does not count as given twice."""
    settings = ibsi_settings(case)
    assert Settings.from_dict(dataclasses.asdict(settings)) == settings
    path = tmp_path / "case.toml"
    path.write_text(_toml(settings))
    assert Settings.from_toml(path) == settings


def test_ibsi_cases_keep_their_bin_parameters():
    """IBSI 1 table 5.1: A and C bins of 25 HU, B, D and E 32 bins; the IVH of C bins of 2.5 HU, of E
    1000 bins, of the others the HU themselves; the digital phantom bins of 1."""
    expected = {
        "digital_phantom": ("fbs", None, 1.0, "none", None, None),
        "A": ("fbs", None, 25.0, "none", None, None),
        "B": ("fbn", 32, None, "none", None, None),
        "C": ("fbs", None, 25.0, "fbs", None, 2.5),
        "D": ("fbn", 32, None, "none", None, None),
        "E": ("fbn", 32, None, "fbn", 1000, None),
    }
    for case, bins in expected.items():
        s = ibsi_settings(case)
        assert (
            s.discretisation,
            s.n_bins,
            s.bin_width,
            s.ivh_discretisation,
            s.ivh_n_bins,
            s.ivh_bin_width,
        ) == (bins), case


def test_a_pipeline_spec_without_features_gives_the_default_chain(tmp_path):
    """A spec without a [features] table is valid (every table is optional), and its run uses
    Settings(); from_toml, which promises a spec's processing chain, refused it: "unknown settings
    ['mask']". A misspelt [feature] table is still refused, naming it."""
    from gpuimg.cohort import load_spec

    spec = tmp_path / "pipeline.toml"
    spec.write_text(
        '[input]\nmodality = "CT"\n[mask]\nsource = "recipe"\nthreshold = [-400, 400]\n'
        '[[preprocess]]\nstep = "gaussian_filter"\nsigma = 1.0\n[edges]\noperator = "sobel"\n'
    )
    assert Settings.from_toml(spec) == load_spec(spec).settings == Settings()
    misspelt = tmp_path / "misspelt.toml"
    misspelt.write_text('[mask]\nsource = "recipe"\nthreshold = [-400, 400]\n[feature]\nn_bins = 16\n')
    with pytest.raises(ConfigError, match=r"unknown settings \['feature', 'mask'\]"):
        Settings.from_toml(misspelt)


@pytest.mark.parametrize(
    ("text", "kind"), [("features = 3\n", "int"), ('features = ["glcm", "glszm"]\n', "list")]
)
def test_features_that_are_no_table_are_refused(tmp_path, text, kind):
    """features = 3 in a settings file was a bare TypeError ('int' object is not iterable), and
    features = ["glcm", "glszm"] (the families, written where the table goes) 'unknown settings
    ['glcm', 'glszm']'; from_dict of something other than a dict the same TypeError."""
    path = tmp_path / "settings.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"settings\.toml: features = .* must be a table of settings"):
        Settings.from_toml(path)
    with pytest.raises(ConfigError, match=rf"settings must be a dict .*; got {kind}"):
        Settings.from_dict(3 if kind == "int" else ["glcm", "glszm"])


@pytest.mark.parametrize(
    "values",
    [
        {"interpolation": "cubic"},
        {"partial_volume": 0.3},
        {"interpolation": "nearest", "reseg_range": [-1000.0, 400.0]},
    ],
)
def test_an_interpolation_setting_without_new_spacing_is_refused(values, tmp_path):
    """Without new_spacing nothing is interpolated: Settings(interpolation="cubic") and
    Settings(partial_volume=0.3) gave the features of the image as it was, without a word. Refused,
    naming the setting and new_spacing, when made, from a dict, from a TOML file and from a spec."""
    name = next(iter(values))
    words = (
        rf"{name}={values[name]!r} is used only with new_spacing \(the spacing to interpolate to.*\); "
        rf"add new_spacing, or leave {name} out \(None\)"
    )
    _refused_however_given(values, words, tmp_path)


def test_interpolation_settings_have_their_ibsi_defaults_with_new_spacing_only():
    """IBSI 1 (section 2.4, table 5.1): linear image interpolation and a partial-volume threshold of 0.5
    where the image is interpolated; None where it is not, so that settings without new_spacing do
    not look as if they interpolated."""
    assert (Settings().interpolation, Settings().partial_volume, Settings().order) == (None, None, None)
    regrid = Settings(new_spacing=(2.0, 2.0, 2.0))
    assert (regrid.interpolation, regrid.partial_volume, regrid.order) == ("linear", 0.5, 1)
    assert ibsi_settings("A").interpolation is None and ibsi_settings("E").partial_volume == 0.5
    # as the docstring says, to stop interpolating settings made with new_spacing
    stopped = dataclasses.replace(
        ibsi_settings("E"), new_spacing=None, interpolation=None, partial_volume=None
    )
    kept = {
        f.name: getattr(ibsi_settings("E"), f.name)
        for f in dataclasses.fields(Settings)
        if f.name not in ("new_spacing", "interpolation", "partial_volume")
    }
    assert stopped == Settings(**kept)
    with pytest.raises(ConfigError, match=r"interpolation='cubic' is used only with new_spacing"):
        dataclasses.replace(ibsi_settings("E"), new_spacing=None)


@pytest.mark.parametrize("case", [3, None, 2.0, ["A"]])
def test_an_ibsi_case_that_is_not_a_string_is_refused_naming_the_cases(case):
    # ibsi_settings(3) was a bare AttributeError: 'int' object has no attribute 'strip'
    with pytest.raises(
        ConfigError,
        match=rf"unknown IBSI case {re.escape(repr(case))}; use the string 'digital_phantom' or one "
        r"of 'A', 'B', 'C', 'D', 'E'",
    ):
        ibsi_settings(case)


@pytest.mark.parametrize("value", ["false", "no", 0, None, [True]])
def test_round_intensities_that_is_not_true_or_false_is_refused(value, tmp_path):
    """round_intensities was kept as given and read by its truth value: "false" (from a dict of text,
    a command line) rounded the intensities, and 0 or None were kept as such, so settings equal in
    effect compared unequal. Refused, as every flag of gpuimg, from a dict and a spec too."""
    from gpuimg.cohort import spec_from_dict

    words = rf"^round_intensities={re.escape(repr(value))} must be True or False\.$"
    with pytest.raises(ConfigError, match=words):
        Settings(round_intensities=value)
    with pytest.raises(ConfigError, match=words):
        Settings.from_dict({"round_intensities": value})
    spec = {"mask": {"source": "recipe", "threshold": [-400, 400]}, "features": {"round_intensities": value}}
    with pytest.raises(ConfigError, match="features: round_intensities="):
        spec_from_dict(spec)
    rounded = Settings(round_intensities=np.True_)
    assert rounded.round_intensities is True and rounded == Settings(round_intensities=True)


def _refused_however_given(values, words, tmp_path):
    """``values`` raise the ConfigError matching ``words`` when Settings are made of them (lists as
    tuples), from a dict, from a TOML file (its name in the message) and from a pipeline spec."""
    from gpuimg.cohort import spec_from_dict

    with pytest.raises(ConfigError, match=words):
        Settings(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    with pytest.raises(ConfigError, match=words):
        Settings.from_dict(values)
    path = tmp_path / "settings.toml"
    path.write_text("[features]\n" + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in values.items()))
    with pytest.raises(ConfigError, match=r"settings\.toml: " + words):
        Settings.from_toml(path)
    spec = {"mask": {"source": "recipe", "threshold": [-400, 400]}, "features": values}
    with pytest.raises(ConfigError, match="features: " + words):
        spec_from_dict(spec)


@pytest.mark.parametrize("given", [(0.0, None), (None, 400.0), [0.0]])
def test_a_range_with_one_end_is_told_how_to_leave_the_other_open(given, tmp_path):
    """A re-segmentation range with one bound only was refused with 'must be two numbers (lower,
    upper)', which did not say how to write an open end; the message now does, and its advice works:
    (0, inf) and (-inf, 400) keep the voxels of a PET image (SUV -0.5 to 15, bins of 0.5) at or above 0
    and at or below 400, the fixed bins counted from 0 and from the ROI's least value (IBSI 2.7)."""
    from gpuimg.features import discretise, prepare

    words = r"for a range open at one end, give that end as math\.inf or -math\.inf \(inf or -inf in TOML\)"
    with pytest.raises(ConfigError, match=r"^reseg_range=.* must be two numbers \(lower, upper\).*" + words):
        Settings(reseg_range=given)
    path = tmp_path / "settings.toml"
    path.write_text("reseg_range = [0.0]\n")
    with pytest.raises(ConfigError, match=words):
        Settings.from_toml(path)
    path.write_text('discretisation = "fbs"\nbin_width = 0.5\nreseg_range = [0.0, inf]\n')
    pet = np.linspace(-0.5, 15.0, 4 * 5 * 6).reshape(4, 5, 6)
    for settings, kept, first in (
        (Settings.from_toml(path), pet >= 0.0, 0.0),
        (Settings(reseg_range=(-math.inf, 400.0), discretisation="fbs", bin_width=0.5), pet <= 400.0, -0.5),
    ):
        roi = prepare(pet, np.ones(pet.shape, bool), spacing=(2.5, 0.7, 0.7), settings=settings)
        np.testing.assert_array_equal(roi.values, pet[kept])
        np.testing.assert_array_equal(
            discretise(roi.values, settings), np.floor((pet[kept] - first) / 0.5) + 1
        )


@pytest.mark.parametrize("bounds", [(-math.inf, -math.inf), (math.inf, math.inf), (-math.inf, math.nan)])
def test_a_range_that_keeps_no_voxel_is_refused(bounds):
    """(-inf, -inf) was taken, and every ROI then failed in prepare ('no voxel of the ROI is left');
    an infinite end is open only as the lower -inf or the upper inf."""
    with pytest.raises(
        ConfigError, match=r"reseg_range=.* must have lower <= upper, and an end that is infinite open"
    ):
        Settings(reseg_range=bounds)
