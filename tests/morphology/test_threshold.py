"""gpuimg.morphology.threshold against scikit-image."""

import numpy as np
import pytest
import skimage.filters
from guarded import run_guarded

import gpuimg
from gpuimg import ParameterError
from gpuimg.morphology import multiotsu, otsu_threshold


def test_otsu_equals_scikit_image(rng):
    image = np.concatenate([rng.normal(-500, 80, 3000), rng.normal(40, 30, 2000)]).reshape(50, 100)
    for nbins in (256, 64):
        assert otsu_threshold(image, nbins) == skimage.filters.threshold_otsu(image, nbins=nbins)
    mask = rng.random(image.shape) > 0.3
    assert otsu_threshold(image, mask=mask) == skimage.filters.threshold_otsu(image[mask])


@pytest.mark.parametrize("classes", [2, 3, 4])
def test_multiotsu_equals_scikit_image(rng, classes):
    image = np.concatenate([rng.normal(m, 20, 1500) for m in (-800, -100, 50, 400)])
    np.testing.assert_array_equal(
        multiotsu(image, classes), skimage.filters.threshold_multiotsu(image, classes=classes)
    )


def test_on_real_ct(ct_slice, ct_crop):
    crop, _ = ct_crop
    for image in (ct_slice, crop):
        assert otsu_threshold(image) == skimage.filters.threshold_otsu(image)
        np.testing.assert_array_equal(multiotsu(image, 3), skimage.filters.threshold_multiotsu(image, 3))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: otsu_threshold(x, nbins=1), "nbins=1 must be"),
        (lambda x: otsu_threshold(x, mask=np.zeros(x.shape, bool)), "non-empty"),
        (lambda x: otsu_threshold(x, mask=np.ones((2, 2), bool)), "the mask's shape (2, 2) differs"),
        (lambda x: multiotsu(x, classes=1), "classes=1 must be"),
        (lambda x: multiotsu(x, nbins=1), "nbins=1 must be"),
        (lambda x: multiotsu(x > 0.5, classes=3), "classes=3: After discretization into bins"),
        (lambda x: otsu_threshold(np.where(x > 0.5, np.nan, x)), "Otsu needs finite values"),
        (lambda x: multiotsu(np.where(x > 0.5, np.inf, x)), "Otsu needs finite values"),
    ],
)
def test_bad_input(rng, call, message):
    with pytest.raises(gpuimg.ParameterError) as caught:
        call(rng.random((6, 7)))
    assert message in str(caught.value)


def test_multiotsu_search_too_long_or_too_large_is_refused_at_once():
    """scikit-image gives an integer image one bin per value whatever nbins: 27 uint16 voxels from 4
    to 65524 took 100 s (and tried a 32 GiB table) before; now each is refused before the search, in
    a child process with a memory limit and a timeout."""
    setup = (
        "import numpy as np\nfrom gpuimg.morphology import multiotsu\n"
        "WIDE = np.linspace(4, 65524, 27).astype(np.uint16).reshape(3, 1, 9)\n"
    )
    cases = {
        "table": "multiotsu(WIDE, classes=3)",
        "search": "multiotsu(WIDE, classes=4)",
        "float": "multiotsu(np.random.default_rng(0).random(1000), classes=3, nbins=10**5)",
        "as_float": "t = multiotsu(WIDE.astype(np.float32), classes=3); assert 4 < t[0] < t[1] < 65524",
    }
    results = run_guarded(cases, setup, memory=3 * 1024**3, timeout=120)
    name, message, _ = results["table"]
    assert name == "MemoryBudgetError" and "table of 65521 x 65521 bins (one per integer value" in message
    name, message, _ = results["search"]
    assert name == "ParameterError" and "65521^3 combinations" in message and "astype(np.float32)" in message
    name, message, _ = results["float"]
    assert name == "ParameterError" and "100000^2 combinations" in message and "fewer nbins" in message
    assert results["as_float"] is None


def test_otsu_of_integers_spanning_their_whole_type():
    # One bin per integer value (scikit-image's rule): int32 or uint32 from their least to their largest
    # value asked for 32 GiB of counts, uint64 above 2^63 ended in an IndexError, int64 in NumPy's
    # "Maximum allowed size exceeded"; each is now refused before the histogram, with the fix.
    setup = "import numpy as np\nfrom gpuimg.morphology import otsu_threshold\n"
    span = "np.array([np.iinfo({0}).min, 0, np.iinfo({0}).max], {0}).reshape(1, 1, 3)"
    cases = {
        name: f"otsu_threshold({span.format('np.' + name)})"
        for name in ("int32", "uint32", "int64", "uint64")
    }
    cases["as_float"] = (
        f"t = otsu_threshold({span.format('np.int32')}.astype(np.float32)); assert -2**31 < t < 2**31"
    )
    results = run_guarded(cases, setup, memory=3 * 1024**3, timeout=120)
    for name in ("int32", "uint32", "int64", "uint64"):
        kind, message, _ = results[name]
        assert (
            kind == "MemoryBudgetError" and "one per integer value: pass image.astype(np.float32)" in message
        )
    assert results["as_float"] is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_otsu_of_floats_too_wide_for_their_bins(dtype):
    wide = np.array([-1.0, 0.0, 1.0], dtype) * np.finfo(dtype).max
    with pytest.raises(ParameterError, match="range is too narrow or too wide for 256 bins"):
        otsu_threshold(wide)


def test_otsu_of_integers_far_from_zero_is_the_shifted_threshold():
    # scikit-image counts an integer image's histogram from 0 (np.bincount up to the maximum): uint32
    # values near 2**32 asked for 32 GiB, int32 near 2**31 for 16 GiB, int64 from 2**40 for 8 TiB (each
    # a MemoryError that the budget check, of max - min + 1 bins, let through), and uint64 from 2**63
    # wrapped to a threshold of -2**63. Otsu's threshold moves with the values (one bin per integer),
    # so the reference is scikit-image's on the CT-like values near 0, shifted; in a child process
    # under a memory limit, as the allocation may succeed on a large machine.
    setup = """
import numpy as np
import skimage.filters
from gpuimg.morphology import multiotsu, otsu_threshold

rng = np.random.default_rng(7)
parts = [rng.normal(-800, 60, 400), rng.normal(40, 40, 300), rng.normal(700, 80, 200)]
BASE = np.concatenate(parts).astype(np.int64).reshape(9, 10, 10) + 1024


def check(dtype, shift):
    image = BASE.astype(dtype) + dtype(shift)
    got = otsu_threshold(image), multiotsu(image, 3).tolist()
    want = (
        float(int(skimage.filters.threshold_otsu(BASE)) + shift),
        [float(int(t) + shift) for t in skimage.filters.threshold_multiotsu(BASE, 3)],
    )
    assert got == want, (got, want)
"""
    cases = {
        "uint32": "check(np.uint32, 2**32 - 4096)",
        "int32": "check(np.int32, 2**31 - 4096)",
        "int64": "check(np.int64, 2**40)",
        "uint64": "check(np.uint64, 2**63)",
        "int16": "check(np.int16, -1024)",  # a CT's HU: scikit-image's own result, before and after
    }
    results = run_guarded(cases, setup, memory=3 * 1024**3, timeout=120)
    assert results == dict.fromkeys(cases)
