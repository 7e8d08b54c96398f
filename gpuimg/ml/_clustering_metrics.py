"""Scores of clusterings: the silhouette coefficient and the Davies-Bouldin index, with the check of
their samples and labels."""

import numpy as np

from gpuimg._memory import check_bytes, max_bytes
from gpuimg.backend import bincount_fixed, namespace
from gpuimg.errors import ParameterError

from ._metric_inputs import _check_present
from ._validation import check_features


def silhouette(X, labels) -> float:
    """Mean silhouette coefficient of a clustering (Euclidean), in [-1, 1].

    Raises
    ------
    ParameterError
        If ``X`` is not a 2D table of numbers with a sample and a feature, ``labels`` is not one per
        sample, lacks some (NaN, None) or mixes types that cannot be compared, or the clusters number
        fewer than 2 or as many as the samples.
    FeatureError
        If ``X`` holds NaN or infinite values.
    MemoryBudgetError
        If the distances of one sample to all the others (a row of float64, and its sums by
        cluster) exceed the memory budget.

    Notes
    -----
    O(n^2) time, as ``sklearn.metrics.silhouette_score`` without ``sample_size``. The samples are
    taken in cluster order, so that each cluster's distances are a run of columns, and the distances
    are formed for blocks of samples at a time and summed by cluster from their running sums, in
    float64 (the score of 50 000 samples in 1000 clusters is within 3.2e-13 of scikit-learn's). A
    block holds at most :data:`_BLOCK_BYTES` or the memory budget
    (:func:`gpuimg._memory.max_bytes`), whichever is less, and nothing of the size of samples times
    clusters or samples squared is formed (scikit-learn's chunks are up to its ``working_memory``,
    1 GiB by default). Samples alone in their cluster score 0.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import silhouette
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])  # two pairs 10 apart
    >>> round(silhouette(X, [0, 0, 1, 1]), 4)  # 1 - 1 / ((10 + sqrt(101)) / 2)
    0.9002
    >>> round(silhouette(X, [0, 1, 0, 1]), 4)  # pairs split: each nearer the other cluster
    -0.4475
    """
    X, labels, xp, counts = _clusters(X, labels)
    order = xp.argsort(labels)  # the samples cluster by cluster (the score is a mean over them)
    labels = labels[order]
    # About the mean, in float64: the expansion of values far from 0 (features near 1e4 in float32)
    # cancels to noise, and a negative noise made the score NaN.
    X = X[order].astype(np.float64)
    X -= X.mean(0)
    n, k = X.shape[0], counts.size
    squares = (X * X).sum(1)
    last = (xp.cumsum(counts) - 1).astype(np.int64)  # each cluster's last sample
    # Mean distance of each sample to its own cluster (a) and to the nearest other (b), a block of
    # samples at a time: the whole (samples x samples) matrix, and each of its temporaries, took
    # 6.7 GiB for 30 000 samples; a (samples x clusters) one-hot matrix, whose product with the
    # distances summed them by cluster, 381 MiB for 50 000 samples in 1000 clusters (10 GB in 25 000).
    a, b = xp.empty(n, dtype=np.float64), xp.empty(n, dtype=np.float64)
    rows = _block_rows(n, k)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        block = xp.arange(stop - start)
        distances = X[start:stop] @ X.T  # |x|^2 - 2 x.y + |y|^2 in place: one block alive at a time
        distances *= -2.0
        distances += squares[start:stop, None]
        distances += squares[None, :]
        xp.sqrt(xp.maximum(distances, 0.0, out=distances), out=distances)
        distances[block, xp.arange(start, stop)] = 0.0  # rounding left some above 0
        # Each cluster a run of columns: its sum is the step of the running sums over its run.
        xp.cumsum(distances, axis=1, out=distances)
        ends = distances[:, last]
        del distances  # before the next block's is made
        sums = ends.copy()
        sums[:, 1:] -= ends[:, :-1]
        del ends
        own = labels[start:stop]
        a[start:stop] = sums[block, own] / xp.maximum(counts[own] - 1, 1)
        sums /= counts
        sums[block, own] = xp.inf
        b[start:stop] = sums.min(1)
    spread = xp.maximum(a, b)  # 0 for a sample at the same place as every other: it scores 0, as in sklearn
    s = xp.where((counts[labels] > 1) & (spread > 0), (b - a) / xp.where(spread > 0, spread, 1.0), 0.0)
    return float(s.mean())


#: Most bytes of one block of :func:`silhouette` (scikit-learn's chunks are up to its working_memory,
#: 1 GiB by default); less where the memory budget is less.
_BLOCK_BYTES = 1 << 25


def _block_rows(n: int, k: int) -> int:
    """Samples per block of :func:`silhouette`: each holds a row of distances to the ``n`` samples (their
    running sums in place) and its sums by the ``k`` clusters (three rows of ``k`` at once), in
    float64; as many as :data:`_BLOCK_BYTES` or the memory budget allow, at least one."""
    per_row = 8 * (n + 3 * k)
    check_bytes(
        per_row, f"the silhouette of {n} samples in {k} clusters (the distances of one sample to all)"
    )
    return max(1, min(_BLOCK_BYTES, max_bytes()) // per_row)


def davies_bouldin(X, labels) -> float:
    """Davies-Bouldin index of a clustering (lower is better; 0 at best).

    Raises
    ------
    ParameterError
        If ``X`` is not a 2D table of numbers with a sample and a feature, ``labels`` is not one per
        sample, lacks some (NaN, None) or mixes types that cannot be compared, or the clusters number
        fewer than 2 or as many as the samples.
    FeatureError
        If ``X`` holds NaN or infinite values.

    Notes
    -----
    As ``sklearn.metrics.davies_bouldin_score``, a pair of clusters with one centre (closer than 1e-8
    of the distance of the farthest sample from the mean) is left out of the maxima: its ratio is 0,
    and the index is 0 where all centres coincide.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import davies_bouldin
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> round(davies_bouldin(X, [0, 0, 1, 1]), 4)  # (0.5 + 0.5) / 10: scatter 0.5, centres 10 apart
    0.1
    """
    X, labels, xp, counts = _clusters(X, labels)
    X = X.astype(np.float64)
    X -= X.mean(0)
    # Sums by cluster, not through a (samples x clusters) one-hot matrix: 7.2 GB for the 900 nodes of
    # a 30 x 30 SOM over 1e6 voxels, where scikit-learn holds O(samples x features).
    k = counts.size
    centres = xp.stack([bincount_fixed(labels, X[:, j], length=k) for j in range(X.shape[1])], axis=1)
    centres /= counts[:, None]
    scatter = bincount_fixed(labels, xp.sqrt(((X - centres[labels]) ** 2).sum(1)), length=k) / counts
    separation = xp.sqrt(((centres[:, None, :] - centres[None, :, :]) ** 2).sum(-1))
    # Clusters about one centre (a shell around a core) are as far apart as the rounding of their
    # means, about 1e-16 of the data's extent: a pair scored 1e15 to 1e17, or 0 where the rounding
    # matched. Centres closer than _COINCIDENT of the extent are one centre, and, as scikit-learn's
    # centres at distance 0, their pair is left out (ratio 0).
    extent = float(xp.sqrt((X * X).sum(1).max()))
    coincident = separation <= _COINCIDENT * extent
    ratio = (scatter[:, None] + scatter[None, :]) / xp.where(coincident, xp.inf, separation)
    xp.fill_diagonal(ratio, -xp.inf)
    return float(ratio.max(1).mean())


#: Distance of two centres, relative to the farthest sample from the mean, below which
#: :func:`davies_bouldin` takes them as one (scikit-learn's np.allclose tolerance, 1e-8, but relative).
_COINCIDENT = 1e-8


def _clusters(X, labels):
    X = check_features(X)
    xp = namespace(X).xp
    labels = xp.asarray(labels).ravel()
    # A NaN label (a sample the clustering left out, merged in by pandas) was a cluster of its own,
    # and None a bare TypeError from the sorting; scikit-learn refuses NaN ('Input y contains NaN').
    _check_present("labels", labels, xp)
    _, labels = xp.unique(labels, return_inverse=True)
    labels = labels.ravel()
    if labels.size != X.shape[0]:
        raise ParameterError(f"X has {X.shape[0]} samples but labels has {labels.size}.")
    k = int(labels.max()) + 1
    if not 2 <= k < X.shape[0]:
        raise ParameterError(f"a clustering score needs 2 to samples - 1 clusters; got {k} for {X.shape[0]}.")
    return X, labels, xp, bincount_fixed(labels, length=k).astype(np.float64)
