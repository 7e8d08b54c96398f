"""A Dask array that counts the chunks read from it, for tests that a computation reads each once."""

import numpy as np


def counted(array: np.ndarray, chunks) -> tuple[object, list]:
    """``array`` as a Dask array of ``chunks``, and the list to which each chunk read appends its shape."""
    import dask.array as da

    reads = []

    def read(block):
        if block.size:  # Dask calls it on an empty block to learn the result's type
            reads.append(block.shape)
        return block

    return da.from_array(array, chunks=chunks).map_blocks(read, dtype=array.dtype), reads
