"""What the IBSI texture families share: grey levels, directions, approaches, aggregation and tags.

A texture family (GLCM, GLRLM, GLSZM, GLDZM, NGTDM, NGLDM) is two functions: ``matrices``, which
builds the family's matrices from the ROI's grey levels (a kernel, on the ROI's device), and
``features``, which computes the family's features from a batch of matrices. This module turns a
prepared :class:`~gpuimg.features.chain.Roi` into grey levels (:func:`grey_levels`), runs the
family's matrices for each approach the settings ask for, aggregates them as IBSI 3.6 says and names
each result by its IBSI tag (:func:`directional_features`, :func:`zone_features`).

Approaches (IBSI 3.6.1; ``Settings.texture_approaches``):

- ``"2d"``: a matrix per slice (in-plane neighbours only); features per slice, averaged over slices.
- ``"2.5d"``: the per-slice matrices summed over the slices; features once.
- ``"3d"``: matrices of the whole volume (neighbours in all three dimensions).

The directional families (GLCM, GLRLM) have a matrix per direction (4 in-plane, 13 in 3D), so each
approach comes in two aggregations (``Settings.texture_aggregations``): ``"averaged"`` (features per
matrix, averaged: tags ``_avg``) and ``"merged"`` (features of the matrices summed over directions:
``_comb``). In 2D both are per slice and then averaged over slices; in 2.5D "averaged" merges the
slices of each direction.

Cost: the matrices are asked for a few slices (2D, 2.5D) or offsets (3D) at a time, at most
:func:`batch_bytes` of them in a batch whatever the ROI's size or number of grey levels
(:data:`MATRIX_BUDGET`, or less where the memory budget, ``GPUIMG_MAX_BYTES``, leaves less room for
what a family holds beside a batch), and the matrices of one shape of all approaches and
aggregations are pooled, within the same bound, into one call of the family's ``features`` (so a
small ROI costs one call per family, not one per tag).

Undefined features are NaN, with a :class:`~gpuimg.errors.FeatureWarning` naming them (see
:mod:`gpuimg.features._scalars`), where IBSI's formula has no value: every feature of a family
whose matrices have no entry (GLCM and NGTDM of a one-voxel ROI or of an approach whose slices hold
one voxel each: no pair, no neighbour); on one grey level (a constant ROI, or ``n_bins=1``) the
GLCM's ``corr`` and ``info_corr1`` (a variance and ``HX`` of 0) and the NGTDM's ``coarseness`` and
``strength`` (no grey level difference: ``sum p_i s_i = 0``), ``contrast`` (``N_gp = 1``) and
``busyness`` (``sum |i p_i - j p_j| = 0``, also with several levels whose ``i p_i`` are equal). A 2D
mean over slices is NaN where the feature is undefined on any slice holding a matrix entry. Other
tools replace some of these by numbers (PyRadiomics: coarseness 10^6, busyness and strength 0).

Device reads: one per ROI for its grey levels (:func:`grey_levels`, shared by the families); the
families' means stay on the device (:class:`~gpuimg.features._scalars.Deferred`) until
:func:`gpuimg.features.extract` reads all its families' results at once. No read depends on the
number of grey levels, directions, slices or matrices. Bins are counted with
:func:`gpuimg.backend.bincount_fixed` into host-known lengths (``cupy.bincount`` reads the device
twice per call to size its output).
"""

import functools
import math
import os
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from gpuimg._memory import UNCHECKED_BYTES, check_bytes, max_bytes
from gpuimg.backend import namespace, to_numpy

from ._grey_levels import GreyLevels
from ._grey_levels import grey_levels as grey_levels  # the families take it from here
from ._scalars import Deferred, undefined

#: The 13 unique directions of 3D neighbours (z, y, x) at Chebyshev distance 1.
DIRECTIONS_3D = (
    (0, 0, 1),
    (0, 1, -1),
    (0, 1, 0),
    (0, 1, 1),
    (1, -1, -1),
    (1, -1, 0),
    (1, -1, 1),
    (1, 0, -1),
    (1, 0, 0),
    (1, 0, 1),
    (1, 1, -1),
    (1, 1, 0),
    (1, 1, 1),
)
#: The 4 unique in-plane directions (z, y, x).
DIRECTIONS_2D = tuple(d for d in DIRECTIONS_3D if d[0] == 0)
#: Tag suffixes of the approaches and aggregations, as the IBSI reference files spell them.
APPROACH_TAGS = {"2d": "2D", "2.5d": "2_5D", "3d": "3D"}
AGGREGATION_TAGS = {"averaged": "avg", "merged": "comb"}
#: The texture families by the prefix of their tags, as messages name them.
FAMILIES = {"cm": "GLCM", "rlm": "GLRLM", "szm": "GLSZM", "dzm": "GLDZM", "ngt": "NGTDM", "ngl": "NGLDM"}


def directions(approach: str, distance: int = 1) -> np.ndarray:
    """The neighbour offsets (z, y, x) of a directional family: 4 in-plane ones for the 2D and 2.5D
    approaches, 13 for 3D, at Chebyshev ``distance`` [voxels]; int64 array (n, 3)."""
    return distance * np.array(DIRECTIONS_3D if approach == "3d" else DIRECTIONS_2D, dtype=np.int64)


#: ``matrices(grey, offsets, per_slice)``: one matrix per slice (``per_slice``, in-plane offsets) or
#: one for the volume, per offset; an array (slices or 1, offsets, ...) on the levels' device.
DirectionalMatrices = Callable[[GreyLevels, np.ndarray, bool], object]
#: ``matrices(grey, per_slice)``: one matrix per slice (in-plane neighbours) or one for the volume;
#: an array (slices or 1, ...) on the levels' device.
ZoneMatrices = Callable[[GreyLevels, bool], object]
#: ``features(batch, grey)``: the family's features of each matrix of a batch (first axis), by name
#: without prefix or suffix, each a 1D array (NumPy or CuPy) of the batch's length.
Features = Callable[[object, GreyLevels], dict]


#: Bytes held at once for each byte of one batch of matrices, at most, where the family gives no
#: other number (GLCM and GLRLM give theirs): the batch, the sums over offsets and over slices, the
#: features' arrays.
_MATRIX_COPIES = 4


def directional_features(
    grey: GreyLevels,
    matrices: DirectionalMatrices,
    features: Features,
    prefix: str,
    copies: int = _MATRIX_COPIES,
) -> Deferred:
    """The features of a directional family (GLCM, GLRLM) for every approach and aggregation asked.

    Returns, deferred (their device values not yet read, see :class:`Deferred`),
    ``{f"{prefix}_{name}_{approach}_{aggregation}": value}`` (``cm_joint_max_3D_avg``). A matrix
    with no entry (a slice and direction without a pair or run) is left out of averages.

    Matrices are asked for a few slices (2D, 2.5D) or offsets (3D) at a time, at most
    :func:`batch_bytes` of them in a batch (and pooled for one call of ``features``) whatever the
    ROI's size and number of levels; the 2D and 2.5D approaches share the slices' matrices.
    ``copies`` is the family's bytes held at once for each byte of one batch (default
    :data:`_MATRIX_COPIES`), which the batches leave room for in the memory budget.
    """
    # the memory budget read once for the family, not once per batch
    limit = batch_bytes(copies, _directional_bytes(grey))
    means = _Means(directional_keys(grey.settings), features, grey, copies, limit)
    for key, batch in directional_batches(grey, matrices, prefix, copies, limit):
        means.add(key, batch)
        del batch  # not held while the next batch is made
    return means.result(prefix)


def directional_keys(settings) -> list[tuple[str, str]]:
    """The (approach, aggregation) pairs the settings ask of a directional family, in tag order."""
    return [(a, g) for a in settings.texture_approaches for g in settings.texture_aggregations]


def tag(key: tuple[str, ...]) -> str:
    """The IBSI tag suffix of an approach, or of an (approach, aggregation) pair: ``3D``, ``2_5D_comb``."""
    return "_".join([APPROACH_TAGS[key[0]], *(AGGREGATION_TAGS[g] for g in key[1:])])


def directional_batches(
    grey: GreyLevels, matrices: DirectionalMatrices, prefix: str, copies: int, limit: int
):
    """Yield ``((approach, aggregation), batch)``: matrices whose features are averaged under that
    key (:func:`directional_features`); a key may come several times, its batches to be pooled.
    ``prefix`` (``"cm"``, ``"rlm"``) names the family in an error; a batch holds at most ``limit``
    bytes (:func:`batch_bytes`), or one slice's or offset's matrices."""
    settings = grey.settings
    approaches, aggregations = settings.texture_approaches, settings.texture_aggregations
    if "2d" in approaches or "2.5d" in approaches:
        by_direction = None  # 2.5D: each direction's matrices summed over the slices
        offsets = directions("2d", settings.texture_distance)
        for batch in _slice_batches(grey, matrices, offsets, prefix, copies, limit):
            if "2.5d" in approaches:
                by_direction = _add_up(by_direction, batch)
            if "2d" in approaches:
                for aggregation in aggregations:
                    yield ("2d", aggregation), batch.sum(axis=1) if aggregation == "merged" else _flat(batch)
            del batch  # not held while the next batch is made
        if by_direction is not None:
            for aggregation in aggregations:
                merged = by_direction.sum(axis=0)[None] if aggregation == "merged" else by_direction
                yield ("2.5d", aggregation), merged
    if "3d" in approaches:
        total = None
        offsets = directions("3d", settings.texture_distance)
        for batch in _offset_batches(grey, matrices, offsets, prefix, copies, limit):
            if "merged" in aggregations:
                total = _add_up(total, batch)
            if "averaged" in aggregations:
                yield ("3d", "averaged"), batch
            del batch  # not held while the next batch is made
        if "merged" in aggregations:
            yield ("3d", "merged"), total[None]


#: The most bytes of texture matrices (or of a texture map's pair lists) in one batch, or pooled for
#: one call of a family's features, where the memory budget leaves room for more (:func:`batch_bytes`).
MATRIX_BUDGET = 64 * 2**20


def batch_bytes(copies: float, work: int) -> int:
    """The most bytes of texture matrices one batch may hold [bytes]: :data:`MATRIX_BUDGET`, or less
    where the memory budget (:func:`gpuimg._memory.max_bytes`, ``GPUIMG_MAX_BYTES``) leaves less room
    for the ``copies`` bytes held at once for each byte of a batch.

    ``work`` is the bytes of matrices to be batched: where they and their copies fit in
    :data:`~gpuimg._memory.UNCHECKED_BYTES` and ``GPUIMG_MAX_BYTES`` is not set, the machine's
    memory is not read (as :func:`~gpuimg._memory.check_bytes` does), and all fit in one batch.

    Examples
    --------
    >>> batch_bytes(10, 2**30) <= MATRIX_BUDGET
    True
    """
    if copies * work <= UNCHECKED_BYTES and not os.environ.get("GPUIMG_MAX_BYTES", "").strip():
        return MATRIX_BUDGET
    return max(1, min(MATRIX_BUDGET, int(max_bytes() // copies)))


def _directional_bytes(grey) -> int:
    """A bound on the bytes of all the matrices of a directional family the settings ask for."""
    total = 0
    if "2d" in grey.settings.texture_approaches or "2.5d" in grey.settings.texture_approaches:
        slices = int(np.count_nonzero(_slices_present(grey)))
        total += slices * len(DIRECTIONS_2D) * _matrix_bytes(grey, per_slice=True)
    if "3d" in grey.settings.texture_approaches:
        total += len(DIRECTIONS_3D) * _matrix_bytes(grey, per_slice=False)
    return total


def _slice_batches(grey, matrices, offsets, prefix, copies, limit):
    """The per-slice matrices (slices, offsets, ...) of the slices holding ROI voxels, a few at once.

    Only those slices are handed to ``matrices`` (in-plane neighbours do not cross slices), so that
    no matrix of an empty slice is made, nor a copy of the batch without them."""
    xp = namespace(grey.levels).xp
    present = np.flatnonzero(_slices_present(grey))
    item = offsets.shape[0] * _matrix_bytes(grey, per_slice=True)
    what = f"{FAMILIES[prefix]} matrices (one slice, {offsets.shape[0]} directions)"
    step = _items_per_batch(item, limit, grey, copies, what)
    for first in range(0, present.size, step):
        chosen = present[first : first + step]
        if chosen[-1] - chosen[0] + 1 == chosen.size:  # consecutive slices: views, no copy
            part = slice(int(chosen[0]), int(chosen[-1]) + 1)
        else:
            part = xp.asarray(chosen)
        chunk = replace(grey, levels=grey.levels[part], morph_mask=grey.morph_mask[part], slices=None)
        yield matrices(chunk, offsets, True)


def _offset_batches(grey, matrices, offsets, prefix, copies, limit):
    """The volume's matrices (offsets, ...), for a few offsets at once."""
    what = f"{FAMILIES[prefix]} matrices (one direction of the volume)"
    step = _items_per_batch(_matrix_bytes(grey, per_slice=False), limit, grey, copies, what)
    for first in range(0, offsets.shape[0], step):
        yield matrices(grey, offsets[first : first + step], False)[0]


def _matrix_bytes(grey, per_slice) -> int:
    """A bound on one float64 matrix of a directional family: n x n (GLCM) or n x the longest side
    (GLRLM), ``n`` the levels present."""
    side = max(grey.levels.shape[1:] if per_slice else grey.levels.shape)
    return 8 * grey.n_present * max(grey.n_present, side)


def _items_per_batch(item_bytes: int, limit: int, grey: GreyLevels, copies: int, what: str) -> int:
    """How many slices' or offsets' matrices of ``item_bytes`` to ask for at once: as many as
    ``limit`` bytes hold (:func:`batch_bytes`), at least one.

    Raises
    ------
    MemoryBudgetError
        If even one's matrices, with what is held beside them (``copies`` bytes per byte of matrices:
        the sums over offsets and slices, the features' arrays), exceed the memory budget: too many
        grey levels are present. The message names ``what`` (the family and the item).
    """
    check_bytes(
        copies * item_bytes,
        f"One batch of the {what} for the {grey.n_present} grey levels present in the ROI, with what "
        "its features hold beside it (fewer grey levels make smaller matrices: a coarser bin_width "
        "for a fixed bin size, a smaller n_bins for a fixed bin number),",
    )
    return max(1, limit // max(item_bytes, 1))


def _add_up(total, batch):
    """``total`` (None at first) plus the matrices of ``batch`` summed over its first axis, added in
    place one matrix at a time (``batch.sum(axis=0)`` and ``total + part`` would each take a copy)."""
    for matrices in batch:
        if total is None:
            total = matrices.copy()
        else:
            total += matrices
    return total


def _flat(batch):
    """A batch (slices, offsets, ...) as one of matrices (slices * offsets, ...)."""
    return batch.reshape((batch.shape[0] * batch.shape[1], *batch.shape[2:]))


class _Means:
    """The mean of each feature over the non-empty matrices added under each key, on the device.

    Matrices of one shape are pooled into one call of ``features`` as long as they hold at most
    ``limit`` bytes (default :func:`batch_bytes` for the family's ``copies``; a larger batch goes
    alone), so a small ROI's approaches and aggregations cost one call. Empty matrices (a slice and
    direction without a pair or run) go through ``features`` too and are left out of the sums and
    counts on the device, so that no device read is needed to find them.
    """

    def __init__(self, keys, features, grey, copies=_MATRIX_COPIES, limit=None):
        self.features, self.grey, self.copies, self.limit = features, grey, copies, limit
        self.keys, self.sums, self.counts = list(keys), {}, {}
        self.pending, self.held, self.names = {}, 0, None

    def add(self, key, batch):
        held = self.held + batch.nbytes
        if self.held and held > self._room(held):
            self._flush()  # the pool and its concatenated copy stay within the budget
        self.pending.setdefault(batch.shape[1:], []).append((key, batch))
        self.held += batch.nbytes
        if self.held >= self._room(self.held):
            self._flush()

    def _room(self, held):
        """The most bytes to pool: the family's ``limit`` where given, else :func:`batch_bytes` of
        what would be held (a few batches: the families without directions)."""
        return self.limit if self.limit is not None else batch_bytes(self.copies, held)

    def _flush(self):
        for group in self.pending.values():
            xp = namespace(group[0][1]).xp
            batch = group[0][1] if len(group) == 1 else xp.concatenate([b for _, b in group])
            filled = batch.reshape(batch.shape[0], -1).any(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):  # the empty matrices' values are left out
                values = self.features(batch, self.grey)
            self.names = list(values)
            stacked = xp.where(filled, xp.stack(list(values.values())), 0.0)  # (features, matrices)
            start = 0
            for key, part in group:
                stop = start + part.shape[0]
                total, count = stacked[:, start:stop].sum(axis=1), filled[start:stop].sum()
                if key in self.sums:
                    total, count = self.sums[key] + total, self.counts[key] + count
                self.sums[key], self.counts[key] = total, count
                start = stop
        self.pending, self.held = {}, 0

    def result(self, prefix) -> Deferred:
        """``{f"{prefix}_{name}_{tag}": mean}`` for every key, in the order of the keys, deferred."""
        self._flush()
        keys = [key for key in self.keys if key in self.sums]
        arrays = {}
        if keys:
            xp = namespace(self.sums[keys[0]]).xp
            arrays = {
                "sums": xp.stack([self.sums[k] for k in keys]).ravel(),
                "counts": xp.stack([self.counts[k] for k in keys]),
            }
        names = self.names or []
        return Deferred(arrays, functools.partial(_mean_rows, prefix, self.keys, keys, names))


def _mean_rows(prefix, all_keys, keys, names, host) -> dict[str, float]:
    """The features of :meth:`_Means.result` from the host's sums and counts of ``keys``."""
    found = {}
    if keys:
        with np.errstate(invalid="ignore", divide="ignore"):
            means = host["sums"].reshape(len(keys), len(names)) / host["counts"][:, None]
        found = {key: row for key, row, n in zip(keys, means.tolist(), host["counts"], strict=True) if n}
    rows = {}
    for key in all_keys:
        suffix, values = tag(key), found.get(key)
        for f, name in enumerate(names):
            label = f"{prefix}_{name}_{suffix}"
            if values is None:
                rows[label] = undefined(label, "no texture matrix has an entry")
            elif math.isnan(values[f]):
                rows[label] = undefined(label, "on a texture matrix here, e.g. of a single grey level")
            else:
                rows[label] = values[f]
    return rows


def zone_features(
    grey: GreyLevels, matrices: ZoneMatrices, features: Features, prefix: str, copies: int = _MATRIX_COPIES
) -> Deferred:
    """The features of a family without directions (GLSZM, GLDZM, NGTDM, NGLDM) for every approach asked.

    Returns, deferred (see :class:`Deferred`), ``{f"{prefix}_{name}_{approach}": value}``
    (``szm_sze_2_5D``). 2D averages the features
    of the slices that hold ROI voxels; 2.5D computes them from the slices' matrices summed.
    ``copies`` is the family's bytes held at once for each byte of a batch, as for
    :func:`directional_features`: the pool of batches for one call of ``features`` leaves room for them.
    """
    means = _Means(zone_keys(grey.settings), features, grey, copies)
    for key, batch in zone_batches(grey, matrices):
        means.add(key, batch)
    return means.result(prefix)


def zone_keys(settings) -> list[tuple[str]]:
    """The approaches the settings ask of a family without directions, as keys ``(approach,)``."""
    return [(a,) for a in settings.texture_approaches]


def zone_batches(grey: GreyLevels, matrices: ZoneMatrices):
    """Yield ``((approach,), batch)``: the matrices whose features are averaged for that approach."""
    per_slice_batch = None
    for approach in grey.settings.texture_approaches:
        if approach == "3d":
            yield (approach,), matrices(grey, False)
            continue
        if per_slice_batch is None:
            keep = np.flatnonzero(_slices_present(grey))
            per_slice_batch = matrices(grey, True)[namespace(grey.levels).xp.asarray(keep)]
        yield (approach,), per_slice_batch if approach == "2d" else per_slice_batch.sum(axis=0)[None]


def _slices_present(grey: GreyLevels) -> np.ndarray:
    """Which slices of the levels hold at least one ROI voxel (bool, NumPy)."""
    if grey.slices is not None:
        return grey.slices
    return to_numpy((grey.levels > 0).any(axis=(1, 2)))
