"""Ordering the frames of a series in space and checking that they form one regular volume."""

import math
import struct
import warnings
from dataclasses import dataclass

import numpy as np

from gpuimg._support import caller_level
from gpuimg._text import count, some
from gpuimg.errors import DicomError, GeometryError
from gpuimg.io._header import _Frame, _told_apart

#: Orientations (cosines) that differ by more than this, or pixel spacings that differ by more than this
#: fraction of the smallest, are different.
_SAME_TOL = 1e-4
#: Two slices closer than this fraction of a pixel (the smaller pixel spacing) along the slice normal
#: are at the same position. A fraction, not a length: a synchrotron micro-CT's voxels are under a
#: micrometre (6.5e-4 mm), so a fixed 1e-3 mm took its every step for a duplicate position, while a
#: slice exported twice repeats its position to the digit, whatever the voxel size.
_DUPLICATE_PIXELS = 1e-3
#: A step longer than this many usual steps means slices are missing.
_GAP_FACTOR = 1.5
#: A slice further than this fraction of the usual step from its place on the grid is irregular.
_UNIFORM_TOL = 0.01
#: A slice shifted within the image plane, against the first, by more than this fraction of a pixel
#: makes the stack sheared (gantry tilt). Positions and cosines rounded as scanners write them (to
#: 0.01 mm and 1e-4) shift the slices of an oblique stack by a few hundredths of a mm, whatever its
#: length; a tilt shifts them more with every slice (1 degree: 0.022 mm a 1.25 mm step).
_SHEAR_PIXELS = 0.1
#: Direction cosines whose length differs from 1, or whose dot product differs from 0, by more than
#: this are not an orientation.
_COSINE_TOL = 0.01
#: More than the rounding error of a length or dot product of cosines in Python's floats against
#: NumPy's (a few 1e-16): :func:`_all_valid` takes cosines within :data:`_COSINE_TOL` less this.
_ROUNDING = 1e-12
#: The 3 x 3 identity matrix, against which a direction matrix is tested for orthonormal columns.
_IDENTITY = np.eye(3)
#: float32 holds integers exactly up to this: a non-integral rescale whose intercept reaches it in units
#: of the slope cannot keep one stored step apart in float32.
_FLOAT32_EXACT = 2.0**24
#: Likewise for float64, the type of integral rescaled values that reach 2**24.
_FLOAT64_EXACT = 2.0**53


@dataclass(frozen=True)
class _Stack:
    """Frames sorted along the slice normal, with the geometry of the volume they form."""

    frames: list[_Frame]  # sorted along the slice normal
    slots: list[int]  # slice index of each frame in the volume
    n_slices: int
    spacing: tuple[float, float, float]  # z, y, x [mm]
    origin: tuple[float, float, float]  # LPS [mm]
    direction: np.ndarray  # columns: LPS unit vectors of axes z, y, x

    @property
    def missing(self) -> list[int]:
        """Slice indices no frame fills (only with ``allow_gaps=True``)."""
        if self.slots == [*range(self.n_slices)]:  # each slice filled in turn: the usual series
            return []
        return sorted(set(range(self.n_slices)) - set(self.slots))


def _stack(
    frames: list[_Frame], series: str, *, thickness: float | None = None, allow_gaps: bool = False
) -> _Stack:
    """Sort ``frames`` by position along the slice normal and derive the volume geometry.

    Parameters
    ----------
    frames : list of _Frame
        The frames of one series, in any order.
    series : str
        How to name the series in messages.
    thickness : float, optional [mm]
        Slice spacing for a series of one frame (SpacingBetweenSlices or SliceThickness), which has no
        position step to measure; 1 mm when None.
    allow_gaps : bool
        Read a series with missing slices, leaving their slice indices empty.

    Raises
    ------
    DicomError
        If frames have no position or orientation: all (a projection image, not a slice), or some (a
        damaged header, or an image that is not a slice of the stack).
    GeometryError
        Mixed image sizes, orientations or pixel spacings; slices sheared (gantry tilt) or at the same
        position; missing slices without ``allow_gaps``; uneven spacing.
    """
    unplaced = [f for f in frames if f.position is None or f.orientation is None]
    # The files with a placed frame, looked at only where some frame is not placed.
    placed = (f for f in frames if f.position is not None and f.orientation is not None)
    placed_in = {f.path for f in placed} if unplaced else set()
    partly = [f.name for f in unplaced if f.path in placed_in]
    unplaced = [f.name for f in unplaced]
    if partly:
        raise DicomError(
            f"Series {series}: {some(partly)} {'has' if len(partly) == 1 else 'have'} no "
            "ImagePositionPatient or ImageOrientationPatient (PlanePositionSequence, "
            "PlaneOrientationSequence) in the functional groups, while other frames of the same file have "
            "both: the file's header is damaged. Export it again."
        )
    if unplaced and len(unplaced) < len(frames):
        one = len(unplaced) == 1
        raise DicomError(
            f"Series {series}: {some(unplaced)} {'has' if one else 'have'} no ImagePositionPatient or "
            f"ImageOrientationPatient, while the other {count(len(frames) - len(unplaced), 'image')} of the "
            f"series have both, so where {'it lies' if one else 'they lie'} in the volume is unknown. "
            f"{'Its header is' if one else 'Their headers are'} damaged, or {'it is' if one else 'they are'} "
            "not a slice of this stack (a secondary capture or dose report stored in the series): pass "
            "read_dicom the other files as a list of paths (with allow_gaps=True where a slice is then "
            "missing inside the stack), or export the series again."
        )
    if unplaced:
        raise DicomError(
            f"Series {series}: {some(unplaced)} have no ImagePositionPatient or ImageOrientationPatient, "
            "so where the image lies in the patient is unknown. This is a projection image (CR, DX, "
            "secondary capture), not a slice of a cross-sectional (CT, MR, PET) series; read_dicom reads "
            "slice series only."
        )
    _check_values(frames, series)
    _same(frames, series, "shape", "image sizes (rows, columns)")
    _same(frames, series, "orientation", "orientations (ImageOrientationPatient)")
    _same(frames, series, "pixel_spacing", "pixel spacings (PixelSpacing, mm)", _SAME_TOL * _smallest(frames))
    pixel_spacing = frames[0].pixel_spacing
    if pixel_spacing is None:
        warnings.warn(
            f"Series {series}: no PixelSpacing; assuming 1 mm between rows and columns.",
            stacklevel=caller_level(__file__),
        )
        pixel_spacing = (1.0, 1.0)
    normal, direction = _axes(frames[0].orientation)
    # From one flat list of the numbers (each position is 3 of them, as _check_values made sure): NumPy
    # takes that in a third of the time of a list of tuples, into the same array.
    positions = np.array([v for f in frames for v in f.position]).reshape(len(frames), 3)
    along = positions @ normal
    order = along.argsort(kind="stable")  # the methods, without np.argsort's (and others') wrappers
    frames = [frames[i] for i in order]
    positions, along = positions[order], along[order]
    duplicate = _DUPLICATE_PIXELS * min(pixel_spacing)  # [mm]
    _check_shear(frames, positions, along, normal, _SHEAR_PIXELS * min(pixel_spacing) + duplicate, series)
    slots, step = _slots(frames, along, series, allow_gaps, duplicate)
    if step is None:
        step = thickness if thickness and thickness > 0 else 1.0
    return _Stack(
        frames=frames,
        slots=slots,
        n_slices=slots[-1] + 1,
        spacing=(float(step), float(pixel_spacing[0]), float(pixel_spacing[1])),
        origin=tuple(float(v) for v in positions[0]),
        direction=direction,
    )


#: The bits of the orientation whose axes :func:`_axes` derived last, its slice normal and direction.
_last_axes: tuple[bytes, np.ndarray, np.ndarray] | None = None


def _axes(orientation: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The slice normal of ``orientation`` (6 finite cosines, row then column) and the direction matrix
    of its volume (columns: normal, column and row cosines, :func:`_orthonormalised`), the matrix a copy
    of the caller's own. Those of the last orientation are kept: a cohort's series mostly share theirs,
    and deriving them takes some 10 NumPy calls. Kept by the orientation's bits, not its value, so that
    a cosine of -0.0 gets its own."""
    global _last_axes
    bits = struct.pack("<6d", *orientation)
    last = _last_axes
    if last is None or last[0] != bits:
        row, col = _unit(orientation[:3]), _unit(orientation[3:])
        normal = _cross(row, col)
        last = _last_axes = (bits, normal, _orthonormalised(np.array([normal, col, row]).T.copy()))
    return last[1], last[2].copy()


def _check_values(frames: list[_Frame], series: str) -> None:
    """Refuse positions, orientations, pixel spacings and rescales that cannot be right, naming the file.

    Raises
    ------
    GeometryError
        A position that is not 3 finite numbers; an orientation that is not two orthogonal unit
        vectors (6 finite numbers); a pixel spacing that is not 2 positive finite numbers.
    DicomError
        A RescaleSlope that is 0 or not finite, a RescaleIntercept that is not finite, or one so large
        against the slope that the voxels could not tell stored values apart: 2**24 slopes where some
        rescale is not integral (float32 voxels), 2**53 where all are (float64 where they reach 2**24).
    """
    if _all_valid(frames):
        return
    exact, voxels = _exact_steps(np.array([f.slope for f in frames]), np.array([f.intercept for f in frames]))
    for frame in frames:
        position, orientation = np.asarray(frame.position, float), np.asarray(frame.orientation, float)
        spacing = np.asarray(frame.pixel_spacing or (), dtype=float)
        fix = "The header is damaged; export the series again, or leave the file out."
        if position.shape != (3,) or not np.all(np.isfinite(position)):
            raise GeometryError(
                f"Series {series}: {frame.name} has ImagePositionPatient {_shown(frame.position)}; it "
                f"must be 3 finite numbers [mm]. {fix}"
            )
        if orientation.shape != (6,) or not _orthonormal(orientation[:3], orientation[3:]):
            raise GeometryError(
                f"Series {series}: {frame.name} has ImageOrientationPatient {_shown(frame.orientation)}; it "
                f"must be 6 finite numbers, two orthogonal unit vectors (row then column cosines). {fix}"
            )
        if spacing.size and (spacing.shape != (2,) or not np.all(np.isfinite(spacing) & (spacing > 0))):
            raise GeometryError(
                f"Series {series}: {frame.name} has PixelSpacing {_shown(frame.pixel_spacing)}; it must be 2 "
                f"positive finite numbers [mm]. {fix}"
            )
        slope, intercept = frame.slope, frame.intercept
        if not (np.isfinite(slope) and slope != 0 and np.isfinite(intercept)):
            raise DicomError(
                f"Series {series}: {frame.name} has RescaleSlope {slope:g} and RescaleIntercept "
                f"{intercept:g}; the slope must be a finite non-zero number and the intercept finite. {fix}"
            )
        if abs(intercept) >= exact * abs(slope):
            raise DicomError(
                f"Series {series}: {frame.name} has RescaleIntercept {intercept:g} with RescaleSlope "
                f"{slope:g}; {voxels} voxels cannot tell apart stored values that close to the intercept, "
                f"so every voxel would read alike. {fix}"
            )


def _all_valid(frames: list[_Frame]) -> bool:
    """Whether every frame passes :func:`_check_values`, tested on all frames at once.

    A series has hundreds of frames. False where any frame fails, or where the values are not all
    numbers of the right count: the frame by frame check then finds the first bad frame and says what
    is wrong with it. In Python's floats, not NumPy's (whose array of a series' positions, the norms and
    reductions took 40 µs): a sum of finite values is finite, and one that is not finite (a nan, an
    infinity, or finite values whose sum overflows) sends the series to the frame by frame check. A
    length of cosines is taken as within :data:`_COSINE_TOL` of 1 only where it is by more than a
    rounding of its sum of squares, so nothing the frame by frame check (np.linalg.norm) refuses passes.
    """
    try:
        positions = [f.position for f in frames]
        if set(map(len, positions)) != {3} or not math.isfinite(sum(map(sum, positions))):
            return False
        # Each value once: the frames of a series repeat them (the tests are value by value).
        if not all(map(_orthonormal_cosines, dict.fromkeys(f.orientation for f in frames))):
            return False
        for spacing in dict.fromkeys(f.pixel_spacing or (1.0, 1.0) for f in frames):
            if len(spacing) != 2 or not all(0 < v < math.inf for v in spacing):
                return False
        rescales = dict.fromkeys((f.slope, f.intercept) for f in frames)
        integral = all(float(s).is_integer() and float(b).is_integer() for s, b in rescales)
        exact = _FLOAT64_EXACT if integral else _FLOAT32_EXACT
        return all(
            math.isfinite(s) and s != 0 and math.isfinite(b) and abs(b) < exact * abs(s) for s, b in rescales
        )
    except (TypeError, ValueError, OverflowError):
        return False


def _orthonormal_cosines(orientation) -> bool:
    """Whether 6 numbers are two unit vectors, orthogonal, within :data:`_COSINE_TOL` by a margin of
    rounding (:func:`_all_valid`'s test of one orientation)."""
    if len(orientation) != 6:
        return False
    r0, r1, r2, c0, c1, c2 = (float(v) for v in orientation)
    limit = _COSINE_TOL - _ROUNDING
    return (
        abs(math.sqrt(r0 * r0 + r1 * r1 + r2 * r2) - 1) <= limit
        and abs(math.sqrt(c0 * c0 + c1 * c1 + c2 * c2) - 1) <= limit
        and abs(r0 * c0 + r1 * c1 + r2 * c2) <= limit
    )


def _integral(slope: np.ndarray, intercept: np.ndarray) -> bool:
    """Whether every RescaleSlope and RescaleIntercept is an integer: read_dicom's voxels then hold the
    rescaled values of integer pixels exactly (int16, float32 or float64, to 2**53)."""
    return bool((slope == np.rint(slope)).all() and (intercept == np.rint(intercept)).all())


def _exact_steps(slope: np.ndarray, intercept: np.ndarray) -> tuple[float, str]:
    """How many slopes from 0 the voxels of a series of these rescales tell stored steps apart, and
    their type: float64's 2**53 where every rescale is integral, else float32's 2**24."""
    return (_FLOAT64_EXACT, "float64") if _integral(slope, intercept) else (_FLOAT32_EXACT, "float32")


def _orthonormal(row: np.ndarray, col: np.ndarray) -> bool:
    if not (np.all(np.isfinite(row)) and np.all(np.isfinite(col))):
        return False
    lengths = np.array([np.linalg.norm(row), np.linalg.norm(col)])
    return bool(np.all(np.abs(lengths - 1) <= _COSINE_TOL) and abs(row @ col) <= _COSINE_TOL)


def _smallest(frames: list[_Frame]) -> float:
    """The smallest pixel spacing of the frames [mm]; 1 where none has one. Each spacing once: the
    frames of a series repeat it (called after :func:`_check_values`, so no spacing is nan)."""
    return min((min(s) for s in dict.fromkeys(f.pixel_spacing for f in frames) if s), default=1.0)


def _same(frames: list[_Frame], series: str, field: str, what: str, tolerance: float = _SAME_TOL) -> None:
    """Raise a GeometryError naming the files if the frames' ``field`` differs by more than ``tolerance``.

    Values equal in every frame (the usual case: a series repeats them exactly) need no tolerance test.
    """
    values = [getattr(frame, field) for frame in frames]
    # Each compared with the first, identity first, as a set finds them alike: the frames of a series
    # share these tuples, which a set hashed number by number.
    if values.count(values[0]) == len(values):
        return
    if None not in values and len({len(v) for v in values}) == 1:
        if np.allclose(values, values[0], rtol=0, atol=tolerance):
            return
    groups: list[list[_Frame]] = []  # frames grouped with the first frame they match
    for frame in frames:
        value = getattr(frame, field)
        group = next((g for g in groups if _close(getattr(g[0], field), value, tolerance)), None)
        if group is None:
            groups.append([frame])
        else:
            group.append(frame)
    if len(groups) > 1:
        kinds = "; ".join(
            f"{_shown(getattr(group[0], field))} in {len(group)} ({some([f.name for f in group], 2)})"
            for group in groups
        )
        raise GeometryError(
            f"Series {series} mixes {len(groups)} different {what}, so it is not one volume: {kinds}. "
            "A scout/localizer or a reformat is often stored in the same series; pass only the files "
            "of one stack to read_dicom (a list of paths)."
        )


def _shown(value) -> str:
    return "none" if value is None else "(" + ", ".join(f"{v:.6g}" for v in value) + ")"


def _close(a, b, tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and bool(np.allclose(a, b, rtol=0, atol=tolerance))


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.cross(a, b)`` of two 3-vectors, by its formula in Python's floats, each product and
    difference rounded as NumPy rounds them (the same bits): np.cross checks and moves axes for 14 µs."""
    (a0, a1, a2), (b0, b1, b2) = a.tolist(), b.tolist()
    return np.array([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0])


def _median(values: np.ndarray) -> float:
    """``float(np.median(values))`` of a 1-D array of floats, in Python's floats: the middle one of the
    sorted values, or the two in the middle summed and halved as np.mean does, nan where one is nan (the
    same value); np.median spent 9 µs checking and partitioning a series' few steps."""
    ordered = sorted(values.tolist())
    if any(value != value for value in ordered):
        return math.nan
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _unit(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=float)
    return vector / np.linalg.norm(vector)


def _orthonormalised(direction: np.ndarray) -> np.ndarray:
    """The orthonormal matrix nearest ``direction`` (columns: slice normal, column and row cosines).

    Cosines written with few decimals (0.956\\0.292\\0\\-0.279\\0.914\\0.296: 3, as some scanners and
    converters write them) are up to a few 1e-4 from unit and orthogonal, within what
    :func:`_check_values` takes as an orientation (:data:`_COSINE_TOL`) but not what a Volume takes.
    The polar factor of the matrix (``U @ Vt`` of its SVD) turns the row and column cosines towards
    each other by half their excess each and keeps the normal, which is orthogonal to both already
    (their cross product), so slice order and positions stay as measured. Exactly orthonormal cosines
    are returned as they are.
    """
    if np.abs(direction.T @ direction - _IDENTITY).max() <= 1e-12:  # np.allclose's test, faster
        return direction
    u, _, vt = np.linalg.svd(direction)
    return u @ vt


def _check_shear(frames, positions, along, normal, limit: float, series) -> None:
    """Refuse slices whose positions drift within the image plane (gantry tilt) more than ``limit`` [mm]."""
    # np.outer's and np.linalg.norm's arithmetic (the same bits), without their checks and reshapes.
    off = positions - positions[0] - (along - along[0])[:, None] * normal
    drift = np.sqrt(np.add.reduce(off * off, axis=1))
    worst = int(drift.argmax())
    if drift[worst] > limit:
        raise GeometryError(
            f"Series {series}: slice {frames[worst].name} is shifted by {drift[worst]:.3f} mm within the "
            f"image plane relative to {frames[0].name}; the stack is sheared (CT gantry tilt). Resample "
            "it onto a straight grid (e.g. with SimpleITK) before reading it as a volume."
        )


def _why_duplicate(frames: list[_Frame], along: np.ndarray, k: int, tolerance: float) -> str:
    """Why frames ``k`` and ``k + 1``, at one position (within ``tolerance`` [mm]), are there, and what
    to do.

    Where a header value tells apart the images at that position (:func:`_told_apart`: echoes,
    b-values, time points, stacks, acquisitions), the series is several volumes, and removing files is
    not the cure: each is read by itself.
    """
    here = [f for f, z in zip(frames, along, strict=True) if abs(z - along[k]) < tolerance]
    told = _told_apart(here)
    one_file = len({f.path for f in here}) == 1
    if told is None and one_file:
        return (
            f"They are {count(len(here), 'frame')} of one file that its header places at one position, "
            "with nothing to tell them apart (a cine loop, or a multi-frame file without a position for "
            "each frame), so it is no 3D volume: read its frames with pydicom "
            "(pydicom.dcmread(path).pixel_array) and make a gpuimg.Volume of those you want."
        )
    if told is None:
        return "A slice was exported twice, or two acquisitions share one series; remove the extra files."
    keyword, what, values = told
    shown = list(dict.fromkeys(values))
    plural = "echoes" if what == "echo" else None
    if one_file:
        how = (
            f"read the frames of one {what} with pydicom (pydicom.dcmread(path).pixel_array, the frames "
            f"whose per-frame functional groups give that {keyword}) and make a gpuimg.Volume of them"
        )
    else:
        how = (
            f"pass the files of one {what} to read_dicom as a list of paths (pydicom.dcmread(path)."
            f"{keyword} tells them apart)"
        )
    return (
        f"Their {keyword} differ ({', '.join(shown)}): the series holds "
        f"{count(len(shown), what, plural)} at this position, so it is several volumes, and read_dicom "
        f"reads one: {how}."
    )


def _slots(frames, along, series, allow_gaps, duplicate: float) -> tuple[list[int], float | None]:
    """The slice index of each sorted frame, and the usual step between slices [mm]; frames closer than
    ``duplicate`` [mm] are at one position."""
    if len(frames) == 1:
        return [0], None
    steps = along[1:] - along[:-1]  # np.diff's arithmetic, without its checks
    same = (steps < duplicate).nonzero()[0]
    if same.size:
        k = int(same[0])
        raise GeometryError(
            f"Series {series}: {frames[k].name} and {frames[k + 1].name} are both at {along[k]:.3f} mm along "
            f"the slice normal ({count(same.size, 'duplicate position')} in all). "
            + _why_duplicate(frames, along, k, duplicate)
        )
    step = _median(steps)
    slots = np.concatenate([[0], np.maximum(np.rint(steps / step), 1).cumsum()]).astype(int)
    gaps = (steps > _GAP_FACTOR * step).nonzero()[0]
    if gaps.size and not allow_gaps:
        k = int(gaps[0])
        missing = int(slots[-1] + 1 - len(frames))
        here = int(slots[k + 1] - slots[k] - 1)
        raise GeometryError(
            f"Series {series}: slice {frames[k + 1].name} at {along[k + 1]:.3f} mm follows "
            f"{frames[k].name} at {along[k]:.3f} mm; the usual step is {step:.4g} mm, so "
            f"{count(here, 'slice')} {'is' if here == 1 else 'are'} missing there ({missing} in all, "
            f"{count(gaps.size, 'gap')}). Pass allow_gaps=True to read it anyway, with the missing "
            "slices left empty."
        )
    residual = np.abs(along - along[0] - slots * step)
    if residual.max() > _UNIFORM_TOL * step:
        # Positions rounded when written make the median one rounded step (0.625 mm steps written to
        # 0.01 mm are 0.62 and 0.63 mm), whose error grows along the stack: the step is then that of
        # the line which fits every position (least squares).
        step, start = (float(v) for v in np.polyfit(slots, along, 1))
        residual = np.abs(along - start - slots * step)
    worst = int(residual.argmax())
    if residual[worst] > _UNIFORM_TOL * step:
        raise GeometryError(
            f"Series {series}: slices are not evenly spaced: steps range from {steps.min():.4g} to "
            f"{steps.max():.4g} mm (usual step {step:.4g} mm), and {frames[worst].name} is "
            f"{residual[worst]:.3g} mm off the regular grid. Resample the series onto even "
            "spacing before reading it as a volume, or read its parts separately."
        )
    if gaps.size:
        warnings.warn(
            f"Series {series}: {count(int(slots[-1] + 1 - len(frames)), 'missing slice')} in "
            f"{count(gaps.size, 'gap')} left empty (allow_gaps=True); Volume.meta['missing_slices'] "
            "lists their indices.",
            stacklevel=caller_level(__file__),
        )
    return slots.tolist(), step
