"""Writing a file so that readers see either the old file or the whole new one, never a part."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def _atomic_path(path: Path):
    """A temporary path beside ``path`` (same suffixes) that replaces ``path`` when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix="".join(path.suffixes), dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
