"""Wording shared by the messages: a count with its noun in the singular or the plural, a few names.

Examples
--------
>>> from gpuimg._text import count, some
>>> count(1, "file"), count(3, "file"), count(2, "series", "series")
('1 file', '3 files', '2 series')
>>> some(["a.dcm", "b.dcm", "c.dcm"], limit=2)
'a.dcm, b.dcm and 1 more'
"""

from collections.abc import Iterable


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, in the plural (``plural``, default ``noun + "s"``) unless ``n`` is 1."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def some(names: Iterable, limit: int = 5) -> str:
    """The first ``limit`` of ``names``, comma-separated, and how many more there are."""
    names = [str(n) for n in names]
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
