"""A damaged Specific Character Set (0008,0005) never carries the patient's name into a warning, a log
record or an error: pydicom quotes a value it does not know ("Unknown encoding '...'") inside dcmread,
and a damaged length makes the value take in the next elements, so gpuimg checks the value before
pydicom reads the file (gpuimg/io/_charset.py)."""

import logging
import warnings

import numpy as np
import pydicom
import pytest
from charset_files import DAMAGES, NAME, SYNTAXES, damage_character_set, secrets_in
from rtstruct_files import square_contour, write_structure_set

import gpuimg
from gpuimg.cohort.privacy import read_identity
from gpuimg.io import read_rtstruct


@pytest.fixture
def heard(recwarn, caplog):
    """Every text a read gave out: its warnings and the pydicom logger's records (and the error
    messages the test adds)."""
    caplog.set_level(logging.INFO, logger="pydicom")
    texts: list[str] = []

    def everything() -> list[str]:
        return [str(w.message) for w in recwarn] + [r.getMessage() for r in caplog.records] + texts

    everything.add = texts.append
    return everything


def _series(folder, rng, damage, syntax) -> gpuimg.Volume:
    """A small CT series in ``folder``, each of its files damaged by ``damage``; the volume written."""
    volume = gpuimg.Volume(rng.integers(-1000, 1000, (3, 6, 7)).astype(np.int16), spacing=(2.0, 0.8, 0.9))
    gpuimg.write_dicom(volume, folder, patient_id="MRN7734920", patient_name="ANONYMOUS")
    for path in sorted(folder.iterdir()):
        damage_character_set(path, damage, syntax)
    return volume


def _pydicom_warnings(path) -> set[str]:
    """What pydicom itself warns reading ``path`` and decoding its patient's name: the reference for
    the warnings of a value gpuimg lets through."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        pydicom.dcmread(path).get("PatientName")
    return {str(w.message) for w in record}


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_character_set_is_never_quoted_by_read_dicom_or_list_series(
    damage, syntax, tmp_path, rng, heard
):
    folder = tmp_path / "ct"
    volume = _series(folder, rng, damage, syntax)
    try:
        read, error = gpuimg.read_dicom(folder), None
    except gpuimg.GpuimgError as raised:
        read, error = None, str(raised)
        heard.add(error)
    found = gpuimg.list_series(folder)
    heard.add(str(found))
    for path, why in found.broken.items():
        heard.add(f"{path}: {why}")
    assert not [text for text in heard() if secrets_in(text)]
    if read is not None:
        np.testing.assert_array_equal(np.asarray(read.data), volume.data)  # integers: exact
    else:  # refused, naming the files and what to do, never the value
        assert damage != "unknown_term"  # a harmless unknown term is read, as before
        assert "Specific Character Set (0008,0005)" in error and str(folder) in error
        assert "export the file again" in error


def test_a_harmless_unknown_term_is_read_with_pydicoms_own_warning(tmp_path, rng, heard):
    # 'ISO_IR 999' has the shape of a defined term and cannot hold a name: pydicom reads it as before
    # (its default encoding) and says so in its own words, which quote the term.
    folder = tmp_path / "ct"
    volume = _series(folder, rng, "unknown_term", "implicit")
    read = gpuimg.read_dicom(folder)
    np.testing.assert_array_equal(np.asarray(read.data), volume.data)
    expected = _pydicom_warnings(next(folder.iterdir()))
    assert "Unknown encoding 'ISO_IR 999' - using default encoding instead" in expected
    assert expected <= set(heard())


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        (b"ISO_IR 100", False),
        (b"\\ISO 2022 IR 87", False),  # an empty first value: ISO 2022 IR 6
        (b"ISO IR 192", False),  # misspelt: pydicom corrects it, and says so
        (b"ISO-IR 999", False),
        (b"utf-8", False),  # a Python codec name, which pydicom takes as it is
        (b"ISO_IR 100\\Zabrowski", True),
        (b"HENRIETTA", True),
        (b"ISO_IR 100\x10\x00\x10\x00", True),  # ran into a tag
    ],
)
def test_which_character_sets_are_let_through(value, refused, tmp_path, rng, heard):
    folder = tmp_path / "ct"
    volume = _series(folder, rng, value, "implicit")
    if refused:
        with pytest.raises(gpuimg.DicomError, match=r"Specific Character Set \(0008,0005\)") as error:
            gpuimg.read_dicom(folder)
        heard.add(str(error.value))
    else:
        np.testing.assert_array_equal(np.asarray(gpuimg.read_dicom(folder).data), volume.data)
        # pydicom's own warnings, as it gives them reading the file itself: none of them lost or added
        pydicom_said = _pydicom_warnings(next(folder.iterdir()))
        assert {text for text in heard() if "ncoding" in text or "Character Set" in text} == pydicom_said
    assert not [text for text in heard() if secrets_in(text)]


@pytest.mark.parametrize("damage", DAMAGES)
def test_read_rtstruct_never_quotes_a_damaged_character_set(damage, tmp_path, rng, heard):
    volume = gpuimg.Volume(np.zeros((6, 16, 16), np.int16), spacing=(2.0, 1.0, 1.0))
    contours = [square_contour(volume, k, 3.0, 11.0) for k in range(1, 5)]
    path = write_structure_set(tmp_path / "rs.dcm", {"GTV": contours})
    expected = read_rtstruct(path, volume, "GTV")
    damage_character_set(path, damage, "explicit")
    try:
        mask, error = read_rtstruct(path, volume, "GTV"), None
    except gpuimg.GpuimgError as raised:
        mask, error = None, str(raised)
        heard.add(error)
    assert not [text for text in heard() if secrets_in(text)]
    if damage == "unknown_term":
        np.testing.assert_array_equal(np.asarray(mask.data), np.asarray(expected.data))
    else:
        assert mask is None and str(path) in error and "Specific Character Set (0008,0005)" in error


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize("damage", DAMAGES)
def test_the_identity_of_a_refused_file_is_still_read_for_scrubbing(damage, syntax, tmp_path, rng, heard):
    # The cohort scrubs messages of the patient's name and ID read from the header; a file refused for
    # its character set gives them from its bytes, as pydicom decodes them (Latin-1, its default).
    _series(tmp_path / "ct", rng, damage, syntax)
    path = sorted((tmp_path / "ct").iterdir())[0]
    identity = read_identity(path)
    assert identity["PatientID"] == "MRN7734920"
    # A length that ran over the name took it in: pydicom finds no name there either.
    assert identity["PatientName"] == ("" if damage == "runs_on" else NAME)
    assert not [text for text in heard() if secrets_in(text)]
