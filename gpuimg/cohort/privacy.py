"""Pseudonyms for patients and studies, and scrubbing identifying values out of messages.

A cohort's outputs name patients and studies by a keyed hash (HMAC-SHA256) of their original IDs. The
key is a random 32-byte secret in a file *beside* the output folder (``OUT.key`` for ``OUT``), never
inside it: the folder can be shared, and whoever holds the key can map an original ID to its pseudonym
again (to join new labels, say) but nobody can reverse a pseudonym without it.
"""

import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from pathlib import Path

from gpuimg.cohort.outputs import atomic
from gpuimg.errors import ConfigError
from gpuimg.io._tags import _as_text
from gpuimg.io._unchecked import unchecked_values

#: Hex digits of a pseudonym (64 bits: no collision in any cohort).
_DIGITS = 16


def key_path_for(output: str | os.PathLike) -> Path:
    """Where the pseudonym key of an output folder lives: ``<output>.key``, beside the folder.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from gpuimg.cohort import key_path_for
    >>> output = Path(tempfile.mkdtemp()) / "results"
    >>> key = key_path_for(output)
    >>> key.name, key.parent == output.resolve().parent  # outside the folder that is shared
    ('results.key', True)
    """
    output = Path(output).resolve()
    return output.with_name(output.name + ".key")


def load_or_create_key(path: str | os.PathLike) -> bytes:
    """The key in ``path``, or a new random one written there (readable by its owner only).

    Raises
    ------
    ConfigError
        If the file exists but does not hold a key this function wrote (a folder, a binary file), or
        cannot be read or written.
    """
    path = Path(path)
    if path.exists():
        try:
            key = bytes.fromhex(path.read_text(encoding="ascii").strip())
        except IsADirectoryError:
            key = b""
        except OSError as exc:
            raise ConfigError(f"cannot read the pseudonym key {path}: {exc}.") from exc
        except ValueError:  # not ASCII, or not hex digits
            key = b""
        if len(key) != 32:
            raise ConfigError(
                f"{path} does not hold a pseudonym key (64 hex digits); move it away, or pass --key with "
                "the key of this output folder."
            )
        return key
    key = secrets.token_bytes(32)
    try:
        # Whole or not at all (a run killed while writing leaves no empty key), and never over a key
        # that another run made meanwhile: that run's key is used.
        with atomic(path, exclusive=True, private=True) as file:
            file.write(key.hex() + "\n")
    except OSError as exc:
        if isinstance(exc, FileExistsError) and path.exists():
            return load_or_create_key(path)
        raise ConfigError(
            f"cannot write the pseudonym key {path}: {exc}; pass --key with a file in a folder you can write."
        ) from exc
    return key


def pseudonym(key: bytes, kind: str, value: str) -> str:
    """The pseudonym of ``value`` (a patient ID, a study folder) under ``key``.

    ``kind`` ("patient", "study") keeps pseudonyms of different kinds apart.

    Examples
    --------
    >>> pseudonym(bytes(32), "patient", "PAT-001")
    'P-278d3cf0b44433be'
    """
    # A folder name that is not UTF-8 on disk (lone surrogates in Python) is hashed as its bytes.
    message = f"{kind}:{value}".encode(errors="surrogateescape")
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()[:_DIGITS]
    return f"{kind[0].upper()}-{digest}"


def patient_name(key: bytes, patient_id: str, *, keep_ids: bool = False) -> str:
    r"""How a cohort names the patient ``patient_id`` (of a DICOM header, of a labels file, or the study
    folder standing for a header without one) wherever it groups, matches or writes patients: the ID in
    Unicode's NFC form, or that form's :func:`pseudonym` under ``key`` unless ``keep_ids``.

    One ID may be written composed (NFC: ``"ä"``) in one header or file and decomposed (NFD: ``"a"``
    and U+0308, as macOS writes text) in another, which look alike. Hashed as they were written, they gave
    one patient two pseudonyms: a patient-level cross-validation put its studies in both the training
    and the test folds, and its row of the labels file missed its studies in the other form. An ASCII ID
    is its own NFC form, so its pseudonym is :func:`pseudonym`'s of the ID as it is.

    Examples
    --------
    >>> key = bytes(32)
    >>> patient_name(key, "Müller") == patient_name(key, "Müller") == pseudonym(key, "patient", "Müller")
    True
    >>> patient_name(key, "Müller", keep_ids=True) == "Müller", patient_name(key, "PAT-001")
    (True, 'P-278d3cf0b44433be')
    """
    patient_id = unicodedata.normalize("NFC", patient_id)
    return patient_id if keep_ids else pseudonym(key, "patient", patient_id)


def is_pseudonym(value: str, kind: str) -> bool:
    """Whether ``value`` has the form of a :func:`pseudonym` of ``kind`` (its letter, 16 hex digits).

    Examples
    --------
    >>> is_pseudonym(pseudonym(bytes(32), "study", "study_001"), "study"), is_pseudonym("study_001", "study")
    (True, False)
    """
    return re.fullmatch(f"{kind[0].upper()}-[0-9a-f]{{{_DIGITS}}}", value) is not None


def scrub(message: str, replacements: dict[str, str]) -> str:
    """``message`` with each key of ``replacements`` replaced by its value: a key of three characters or
    more wherever it stands; one of two (a name part ``Li``, an ID ``12``) where it is a whole word,
    neither next to a letter or digit nor to a ``.`` (``Wu_Li_1947``, ``/data/12/ct``); one of one
    character (an ID ``7``, a study folder ``a``) where it is a whole path component (``/data/7/ct``,
    ``7/ct``, ``/data/7:``), not the words ``a`` and ``I``. Replaced wherever they stand, short keys
    would take the letters and digits of other words and numbers. Case is ignored: a folder may spell
    the patient's name or ID otherwise than the header (``Roe Richard`` for ``ROE^RICHARD``).

    One pass, the longest key first where several start at one place: what a replacement wrote is not
    searched again (a folder named ``001`` would otherwise be replaced inside its own pseudonym,
    ``S-ed402001cb...``, written in place of its path).

    Examples
    --------
    >>> scrub("no files in /data/001", {"/data/001": "<study S-ab001c>", "001": "S-ab001c"})
    'no files in <study S-ab001c>'
    >>> scrub("/data/12/ct/slice_0012.dcm: 512 bytes, 0.12 mm", {"12": "<patient>"})
    '/data/<patient>/ct/slice_0012.dcm: 512 bytes, 0.12 mm'
    >>> scrub("/data/a/ct: not a DICOM file", {"A": "<patient>"})
    '/data/<patient>/ct: not a DICOM file'
    >>> scrub("/data/Roe Richard/ct", {"ROE": "[name]", "RICHARD": "[name]"})
    '/data/[name] [name]/ct'
    """
    keys = sorted((s for s in replacements if s.strip()), key=len, reverse=True)
    if not keys:
        return message
    # One group a key: the group that matched names the key, whatever the case of the text it matched.
    pattern = re.compile(
        "|".join(f"({_SHORT.get(len(s), '{}').format(re.escape(s))})" for s in keys), re.IGNORECASE
    )
    return pattern.sub(lambda found: replacements[keys[found.lastindex - 1]], message)


#: Where a key of one or two characters is replaced: as a whole path component (after the start or a
#: separator; before the end, a separator, or what ends a path in a message: space : , ; ), or as a
#: whole word (no letter, digit or "." on either side).
_SHORT = {
    1: r"(?<![^/\\]){}(?![^/\\\s:,;)])",
    2: r"(?<![^\W_])(?<!\.){}(?![^\W_])(?!\.)",
}


def read_identity(path: str | os.PathLike) -> dict[str, str]:
    """``PatientID``, ``PatientName`` and ``PatientBirthDate`` of a DICOM file (empty where absent).

    Raises
    ------
    Exception
        Whatever pydicom raises for a file that is not DICOM or cannot be read.

    Notes
    -----
    A file that gpuimg refuses to hand pydicom for its Specific Character Set (which pydicom's warning
    would quote, and which may hold the name) still gives its identity, read from its bytes as pydicom
    would decode them, so that messages about the study are scrubbed of it.
    """
    from gpuimg.io._charset import _CharacterSetError
    from gpuimg.io._header import _dcmread, _written_texts

    with unchecked_values():
        try:
            ds = _dcmread(Path(path), stop_before_pixels=True, specific_tags=list(_IDENTITY))
        except _CharacterSetError:
            return _written_texts(Path(path), _IDENTITY)
        # Joined as written: a value of several (two names, two IDs) is a list, whose str is its repr.
        return {keyword: _as_text(ds.get(keyword, "") or "") for keyword in _IDENTITY}


#: The header values that identify a patient, which messages never show.
_IDENTITY = ("PatientID", "PatientName", "PatientBirthDate")


def identity_replacements(identity: dict[str, str], patient: str | None) -> dict[str, str]:
    """Each identifying header value of ``identity`` (``PatientID``, ``PatientName`` and the parts of
    the name, ``PatientBirthDate`` as DICOM writes it, YYYYMMDD, and as folders spell dates:
    1947-03-11, 1947.03.11, 1947_03_11, 11.03.1947, 11-03-1947, 11_03_1947, 03-11-1947, 03_11_1947, and
    with two-digit years: 470311, 11.03.47, 11-03-47, 11_03_47, 03-11-47, 03_11_47) to what replaces it
    in a message (see :func:`scrub`): the ID to ``patient`` (left as it is where ``patient`` is None: the
    original IDs are kept), the name to ``[name]``, the birth date to ``[birth date]``.

    The ID is also replaced as folders write it otherwise: without its separators (``MRN-773-4920``
    as ``MRN7734920``) and by its number alone, with or without leading zeros (``7734920`` for
    ``MRN7734920`` or ``MRN-773-4920``, ``12345`` for ``0012345``), where that number has 5 digits or
    more (a shorter one would take slice numbers and sizes).

    The name's parts are its components (``^``, ``=``, spaces) and, for a double-barrelled name or
    one with an apostrophe or a dot, the words within them and the words joined, as folders and
    descriptions write them (``Smith-Jones``: ``Smith``, ``Jones``, ``SmithJones``; ``O'Brien``:
    ``O``, ``Brien``, ``OBrien``); each also without its accents (``Müller``: ``Muller``). A value with
    letters outside ASCII is also replaced as folder names spell it (:func:`file_name_spellings`).

    Examples
    --------
    >>> import os
    >>> found = identity_replacements(
    ...     {"PatientID": "MRN1", "PatientName": "Smith-Jones^Ren\u00e9e", "PatientBirthDate": ""}, "P-1"
    ... )
    >>> sorted(k for k, v in found.items() if v == "[name]" and k.isascii())
    ['Jones', 'Renee', 'Smith', 'Smith-Jones', 'SmithJones']
    >>> found[os.fsdecode("REN\u00c9E".encode("latin-1"))]  # a folder named in Latin-1, upper case
    '[name]'
    """
    found = dict.fromkeys(_dates(identity["PatientBirthDate"].strip()), "[birth date]")
    if patient is not None:
        found.update(dict.fromkeys(id_spellings(identity["PatientID"]), patient))
    name = identity["PatientName"]
    found |= dict.fromkeys([name, *name.split("\\")], "[name]")  # each of several names, whole
    for part in re.split(r"[\^= \\]+", name):
        words = [word for word in re.split(_WITHIN_NAME, part) if word]
        for spelling in {part, *words, "".join(words)}:
            # A part of one or two letters (Li, Wu, O) only as a whole word (scrub).
            found[spelling] = found[_unaccented(spelling)] = "[name]"
    return found | file_name_spellings(found)


#: The encodings of file names on systems that do not write UTF-8 (Windows, older Unix, ZIP archives).
_LEGACY_NAME_ENCODINGS = ("latin-1", "cp1252")


def file_name_spellings(replacements: dict[str, str]) -> dict[str, str]:
    """Each value of ``replacements`` with letters outside ASCII as folder names may spell it otherwise
    than its header: decomposed (NFD: ``u`` and a combining diaeresis for ``ü``, as macOS names files)
    or composed (NFC, where the header holds the decomposed form), or named in Latin-1 or Windows-1252,
    whose bytes are not UTF-8, so that Python gives them as surrogates (PEP 383; ``Müller`` is
    ``M\\udcfcller``), which the case-blind match of ``scrub`` does not fold: each case a folder may use
    (as written, upper, lower, capitalised) is spelled out."""
    spelled = {}
    for text, replacement in replacements.items():
        if text.isascii():
            continue
        for variant in {text, text.upper(), text.lower(), text.capitalize()}:
            # Encoded composed: the legacy encodings have no combining accents.
            composed = unicodedata.normalize("NFC", variant)
            spelled.setdefault(composed, replacement)
            spelled.setdefault(unicodedata.normalize("NFD", variant), replacement)
            for encoding in _LEGACY_NAME_ENCODINGS:
                try:
                    spelled.setdefault(os.fsdecode(composed.encode(encoding)), replacement)
                except UnicodeEncodeError:  # a letter the encoding lacks
                    continue
    return spelled


#: What joins the words of one part of a name: hyphens and apostrophes (ASCII and typographic), dots.
_WITHIN_NAME = r"[-\u2010\u2011'\u2019.]+"


def _unaccented(text: str) -> str:
    """``text`` without its combining accents (NFKD): ``Müller`` as ``Muller``."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _dates(date: str) -> list[str]:
    """A DICOM date (DA, YYYYMMDD) and its spellings in folder names; the value alone if not a date."""
    if not re.fullmatch(r"\d{8}", date):
        return [date]
    year, month, day = date[:4], date[4:6], date[6:]
    spellings = [date, *(separator.join((year, month, day)) for separator in "-._")]
    for written in (year, year[2:]):
        spellings += [separator.join((day, month, written)) for separator in ".-_"]
        spellings += [separator.join((month, day, written)) for separator in "-_"]
    return [*spellings, year[2:] + month + day]


#: The shortest number of an ID replaced on its own (``7734920`` of ``MRN7734920``).
_ID_DIGITS = 5


def id_spellings(patient_id: str) -> set[str]:
    """A patient ID and its spellings in folder names: stripped, without separators, and each of its
    numbers and its digits joined, of at least ``_ID_DIGITS`` digits, with and without leading zeros."""
    spellings = {patient_id}
    for value in {patient_id, *patient_id.split("\\")}:  # an ID of several values: each too
        stripped = value.strip()
        spellings |= {value, stripped, re.sub(r"[\W_]+", "", stripped)}
        for number in [*re.findall(r"\d+", stripped), re.sub(r"\D", "", stripped)]:
            spellings |= {n for n in (number, number.lstrip("0")) if len(n) >= _ID_DIGITS}
    return spellings
