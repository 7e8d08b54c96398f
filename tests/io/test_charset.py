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


def _moved_out_of_tag_order(path, implicit: bool) -> None:
    """Move the (0008,0005) element of ``path`` to just before (0020,000D), out of tag order (pydicom
    reads an element wherever it lies)."""
    data = path.read_bytes()
    at = data.index(b"\x08\x00\x05\x00", 132)
    length = (
        int.from_bytes(data[at + 4 : at + 8], "little") + 8
        if implicit
        else int.from_bytes(data[at + 6 : at + 8], "little") + 8
    )
    element, data = data[at : at + length], data[:at] + data[at + length :]
    study_uid = data.index(b"\x20\x00\x0d\x00", 132)
    path.write_bytes(data[:study_uid] + element + data[study_uid:])


@pytest.mark.parametrize("syntax", ["implicit", "explicit"])
def test_a_character_set_out_of_tag_order_is_never_quoted(syntax, tmp_path, rng, heard):
    # The check walked the header up to the first tag past (0008,0005) and missed one written after
    # StudyInstanceUID's group began: pydicom, which keeps an element wherever it lies, quoted the name.
    folder = tmp_path / "ct"
    volume = _series(folder, rng, "holds_name", syntax)
    for path in folder.iterdir():
        _moved_out_of_tag_order(path, syntax == "implicit")
        data = path.read_bytes()
        assert data.index(b"\x08\x00\x05\x00", 132) > data.index(b"\x10\x00\x10\x00", 132)  # past the name
    if syntax == "implicit":  # pydicom reads it, and would quote it: refused
        with pytest.raises(gpuimg.DicomError, match=r"Specific Character Set \(0008,0005\)") as raised:
            gpuimg.read_dicom(folder)
        heard.add(str(raised.value))
    else:  # the quick reader's: pydicom never reads it, nothing quotes it
        np.testing.assert_array_equal(np.asarray(gpuimg.read_dicom(folder).data), volume.data)
    assert not [text for text in heard() if secrets_in(text)]


def test_a_file_whose_meta_says_implicit_vr_but_whose_dataset_is_explicit_is_read(tmp_path, rng):
    # pydicom reads such a file as explicit VR ("Expected implicit VR, but found explicit VR"); the check
    # walked it as implicit, read a 4-byte length across the next elements and refused the file, which
    # was also left without the patient's identity for the cohort's scrubbing.
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info

    folder = tmp_path / "ct"
    volume = _series(folder, rng, b"ISO_IR 100", "explicit")
    for path in folder.iterdir():
        data = path.read_bytes()
        ds = pydicom.dcmread(path)
        ds.file_meta.TransferSyntaxUID = SYNTAXES["implicit"]
        meta = DicomBytesIO()
        write_file_meta_info(meta, ds.file_meta, enforce_standard=True)
        meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")  # after (0002,0000)'s value
        path.write_bytes(data[:132] + meta.getvalue() + data[meta_end:])
    path = sorted(folder.iterdir())[0]
    with pytest.warns(UserWarning, match="Expected implicit VR, but found explicit VR"):
        reference = pydicom.dcmread(path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Expected implicit VR", UserWarning)
        np.testing.assert_array_equal(np.asarray(gpuimg.read_dicom(folder).data), volume.data)
        identity = read_identity(path)
    assert identity["PatientID"] == reference.PatientID == "MRN7734920"
    assert identity["PatientName"] == str(reference.PatientName) == NAME


@pytest.mark.parametrize("syntax", ["implicit", "explicit"])
def test_a_file_cut_within_its_character_set_is_said_to_be_cut_short(syntax, tmp_path, rng, heard):
    # The walk took the bytes left as the value, and the file was refused as naming a character set no
    # one defines ("set it to the term ..."), where the file is cut short; pydicom, reading on, quotes what
    # is left of the value.
    folder = tmp_path / "ct"
    _series(folder, rng, b"ISO_IR 100", syntax)
    path = sorted(folder.iterdir())[0]
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"ISO_IR 100") + 5])
    found = gpuimg.list_series(folder)
    assert list(found.broken) == [path]
    assert "ends within its Specific Character Set (0008,0005): the file is cut short" in found.broken[path]
    assert not [text for text in heard() if "ISO_I" in text]


def test_the_character_set_read_from_the_bytes_is_pydicoms_on_its_test_files():
    # The walk must find what pydicom finds in every file pydicom reads (its own test files: implicit,
    # explicit, big endian, deflated, without preamble, odd orders), or a value pydicom quotes goes
    # unchecked, or a good file is refused.
    import io
    from pathlib import Path

    from pydicom.multival import MultiValue

    from gpuimg.io._charset import _CHARACTER_SET, _raw_values
    from gpuimg.io._header import _raw_dataset

    compared = 0
    for path in sorted((Path(pydicom.__file__).parent / "data" / "test_files").rglob("*")):
        if not path.is_file() or path.suffix in (".py", ".txt", ".json", ".gz", ".bz2", ".zip"):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, stop_before_pixels=True, force=_raw_dataset(path))
                expected = ds.get("SpecificCharacterSet")
        except Exception:  # not a file pydicom reads
            continue
        raw = _raw_values(io.BytesIO(path.read_bytes()), _raw_dataset(path), frozenset({_CHARACTER_SET}))
        found = raw.get(_CHARACTER_SET)
        if expected is None:
            assert found is None, path
            continue
        items = expected if isinstance(expected, MultiValue) else [expected]
        assert found is not None, path
        assert [item.strip(" \0") for item in found.decode("latin-1").split("\\")] == [
            str(item).strip(" \0") for item in items
        ], path
        compared += 1
    assert compared >= 20
