"""DICOM files whose Specific Character Set (0008,0005) is damaged, for the tests that pydicom's
"Unknown encoding" warning never carries the patient's name out of them."""

import struct
import zlib
from pathlib import Path

import pydicom
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

NAME = "Zabrowski^Henrietta"
#: What each damage does to the value: its length runs over the next elements up to the end of the
#: patient's name (the value misspelt ISO IR 100, as some exporters write it, which pydicom tries to
#: correct and then quotes whole: a correct one ran into a bare ValueError, "embedded null character"),
#: it holds the name itself, or it names a character set no one defines.
DAMAGES = ("runs_on", "holds_name", "unknown_term")
#: The transfer syntaxes written: pydicom reads the header of an implicit VR or a deflated file, gpuimg's
#: quick reader that of an explicit VR little-endian one (see gpuimg.io._tags).
SYNTAXES = {
    "implicit": ImplicitVRLittleEndian,
    "explicit": ExplicitVRLittleEndian,
    "deflated": DeflatedExplicitVRLittleEndian,
}


def secrets_in(text: str | bytes) -> list[str]:
    """The parts of NAME found in ``text``."""
    if isinstance(text, str):
        text = text.encode("utf-8", "replace")
    return [part for part in (NAME, *NAME.split("^")) if part.encode() in text]


def damage_character_set(path: Path, damage: str | bytes, syntax: str = "implicit") -> Path:
    """Rewrite ``path`` in ``syntax`` (see SYNTAXES), its patient named NAME, with a Specific Character
    Set of ISO_IR 100 that ``damage`` (see DAMAGES; bytes: the value to hold) then changes in the file's
    bytes."""
    ds = pydicom.dcmread(path)
    ds.SpecificCharacterSet, ds.PatientName = "ISO_IR 100", NAME
    # A deflated file is damaged as its dataset is written (explicit VR), then deflated.
    ds.file_meta.TransferSyntaxUID = SYNTAXES["explicit" if syntax == "deflated" else syntax]
    ds.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    implicit = syntax == "implicit"
    header = b"\x08\x00\x05\x00" + (b"\x0a\x00\x00\x00" if implicit else b"CS\x0a\x00")
    at = data.index(header + b"ISO_IR 100")
    start = at + len(header)

    def element(value_length: int) -> bytes:
        if implicit:
            return b"\x08\x00\x05\x00" + struct.pack("<I", value_length)
        return b"\x08\x00\x05\x00CS" + struct.pack("<H", value_length)

    if damage == "unknown_term":
        data = data[:start] + b"ISO_IR 999" + data[start + 10 :]
    elif damage == "holds_name" or isinstance(damage, bytes):
        value = NAME.encode() if damage == "holds_name" else damage
        value += b" " * (len(value) % 2)
        data = data[:at] + element(len(value)) + value + data[start + 10 :]
    elif damage == "runs_on":
        name_at = data.index(b"\x10\x00\x10\x00", start)
        name_length = data[name_at + 4 : name_at + 8] if implicit else data[name_at + 6 : name_at + 8]
        end = name_at + 8 + int.from_bytes(name_length, "little")  # both element headers are 8 bytes
        assert NAME.encode() in data[start:end]
        data = data[:at] + element(end - start) + b"ISO IR 100" + data[start + 10 :]
    else:
        raise ValueError(damage)
    if syntax == "deflated":
        meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")  # after (0002,0000)'s value
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        meta = DicomBytesIO()
        write_file_meta_info(meta, ds.file_meta, enforce_standard=True)
        deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = data[:132] + meta.getvalue() + deflate.compress(data[meta_end:]) + deflate.flush()
    path.write_bytes(data)
    return path
