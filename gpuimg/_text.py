"""Wording shared by the messages: a count with its noun in the singular or the plural.

Examples
--------
>>> from gpuimg._text import count
>>> count(1, "file"), count(3, "file"), count(2, "series", "series")
('1 file', '3 files', '2 series')
"""


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, in the plural (``plural``, default ``noun + "s"``) unless ``n`` is 1."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
