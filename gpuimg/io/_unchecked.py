"""pydicom's checks of header values, off while gpuimg reads DICOM files.

pydicom checks the length of each value against its VR as it converts it (on first access) and, by
default, warns where it is too long (``UserWarning``, and its ``pydicom`` logger at WARNING). Real
exports hold such values (the StudyID of the IBSI validation data is 17 characters, an SH holds 16):
each read printed the warning; under ``-W error`` (or pytest's ``filterwarnings = error``) or
pydicom's RAISE mode it became an exception, and gpuimg took every file of such a series as a damaged
header, so the series could not be read at all. gpuimg checks the values it uses itself (numbers,
UIDs, the pixel description, each with its own message), so it reads with
``pydicom.config.settings.reading_validation_mode`` set to ``IGNORE``, and restores the user's mode
when the last of its readers returns.
"""

import contextlib
import threading
from collections.abc import Iterator

from pydicom import config

_lock = threading.Lock()
_readers = 0  # gpuimg reads running (in any thread), while the mode is IGNORE
_saved: int | None = None  # the mode before the first of them


@contextlib.contextmanager
def unchecked_values() -> Iterator[None]:
    """Read DICOM values without pydicom's checks (and their warnings and log records) inside.

    Re-entrant and safe across threads: the mode is set by the first reader to enter and restored
    by the last to leave (pydicom holds one mode for the process, so a pydicom read of the user's in
    another thread in that time does not check values either). Usable as a decorator, on functions
    that do not warn: the decorator's frame would stand between a warning and the caller its
    ``stacklevel`` names (public readers take it as a ``with`` block).
    """
    global _readers, _saved
    with _lock:
        if _readers == 0:
            _saved = config.settings.reading_validation_mode
            config.settings.reading_validation_mode = config.IGNORE
        _readers += 1
    try:
        yield
    finally:
        with _lock:
            _readers -= 1
            if _readers == 0:
                config.settings.reading_validation_mode = _saved
