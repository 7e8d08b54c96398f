"""One explicit step of ITK's scalar anisotropic diffusion ("gradient" or "curvature") in one pass.

The step is ITK's ``GradientNDAnisotropicDiffusionFunction`` or ``CurvatureNDAnisotropicDiffusionFunction``
on half-voxel faces, as written out in ``gpuimg.preprocess.anisotropic_diffusion``'s Notes: per axis
``i`` the forward and backward differences ``d±``, the squared gradients ``m±`` on the two faces
(``d±²`` plus, per other axis ``j``, the squared mean of the central differences along ``j`` at the
voxel and at its ``i``-neighbour) and the conductances ``c± = exp(m± / k)``. Both methods share
this; they differ only in how :func:`_accumulate` sums the faces.

``k = -2 conductance² <|grad I|²>`` needs the mean squared central difference over the whole
volume, recomputed each step: a first, reading pass (:func:`_squares_cpu`, :func:`_squares_cuda`)
writes partial sums (one per row on the CPU, one per block of threads on CUDA), their sum stays
on the device as a one-element array, and the update pass divides it by the voxel count. ``k = 0``
(no gradient anywhere) leaves the image as it is.

Each voxel reads its 18 face and edge neighbours and itself (the volume extended as "nearest",
ITK's zero-flux Neumann condition); the arithmetic is in float64 (ITK's ``double``) and rounded to
the image's dtype once per step. A 2D image runs as one slice whose z axis is marked absent by a
scale of 0: no z terms at all, as for a 2D image in ITK.

Both targets compute a voxel with :func:`_voxel` from the nine rows ``(z + dz, y + dy)`` of its
neighbourhood, mapped into the volume: the CUDA target with one thread per voxel, the CPU target in
a ``prange`` loop over rows that maps the neighbour rows once per row, so that the inner voxels
``1 .. nx - 2`` need no mapping.

Bytes moved and floor (256³ float32, per step): the reduction reads the volume (64 MiB) and the
update reads and writes it (128 MiB), 192 MiB, ~20 ms at memory speed; the floor of a fused step is
128 MiB. The array operations this replaces made several dozen float64 temporaries of the whole
volume per step (several GiB). On the CPU the update is bound by arithmetic, not memory: six
``exp`` (and for "curvature" six square roots) per voxel, and libm's ``exp`` keeps the x loop from
vectorising (Numba has no SVML here). Measured on 2 cores: 15 ms for the reduction and 290 ms for
the update of either method, per step.
"""

import math

import numba

from .registry import THREADS_3D, block_3d, cpu_kernel, cuda, cuda_kernel, launch_3d

#: ``method`` numbers of :func:`diffusion`.
GRADIENT = 0
CURVATURE = 1
#: Added to the squared gradient before its square root in "curvature" (ITK's ``m_MIN_NORM``).
MIN_NORM = 1.0e-10
#: Threads per CUDA block, one partial sum each block.
_BLOCK = THREADS_3D


@numba.njit(inline="always")
def _across(g, after, before, s):
    """``0.25 (g + central difference along j at the neighbour)²``: one cross term of a face."""
    t = g + (after - before) / 2 * s
    return 0.25 * (t * t)


@numba.njit(inline="always")
def _face(d, first, g1, after1, before1, s1, g2, after2, before2, s2):
    """Squared gradient on a face: ``d²`` plus the cross terms of the two other axes, the first
    left out where ``first`` is False (a 2D image has no z axis)."""
    m = d * d
    if first:
        m = m + _across(g1, after1, before1, s1)
    return m + _across(g2, after2, before2, s2)


@numba.njit(inline="always")
def _accumulate(method, k, forward, backward, ahead, behind, speed, grow, shrink):
    """Add one axis' two faces to the sums of the method (see :func:`_voxel`)."""
    c_ahead = math.exp(ahead / k)
    c_behind = math.exp(behind / k)
    if method == GRADIENT:
        return speed + forward * c_ahead - backward * c_behind, grow, shrink
    speed = (
        speed
        + forward / math.sqrt(MIN_NORM + ahead) * c_ahead
        - backward / math.sqrt(MIN_NORM + behind) * c_behind
    )
    grow = grow + min(backward, 0.0) ** 2 + max(forward, 0.0) ** 2
    shrink = shrink + max(backward, 0.0) ** 2 + min(forward, 0.0) ** 2
    return speed, grow, shrink


@numba.njit(inline="always")
def _squared_gradient(r01, r21, r10, r12, r11, xm, x, xp, scale):
    """``|grad I|²`` at ``x`` of the centre row ``r11`` from central differences per mm, without z
    where ``scale[0]`` is 0. ``rab`` is the row ``(z + a - 1, y + b - 1)``; ``xm``, ``xp`` the
    indices of ``x - 1`` and ``x + 1``, all mapped into the volume."""
    gy = (float(r12[x]) - float(r10[x])) / 2 * scale[1]
    gx = (float(r11[xp]) - float(r11[xm])) / 2 * scale[2]
    total = gy * gy
    if scale[0] != 0:
        gz = (float(r21[x]) - float(r01[x])) / 2 * scale[0]
        total = gz * gz + total
    return total + gx * gx


@numba.njit(inline="always")
def _voxel(r00, r01, r02, r10, r11, r12, r20, r21, r22, xm, x, xp, scale, k, time_step, method):
    """The voxel ``x`` of the centre row ``r11`` after one step, in float64.

    Rows and indices as in :func:`_squared_gradient`. "gradient": ``sum_i (c+ d+ - c- d-)``;
    "curvature": ``s = sum_i (c+ d+ / sqrt(m+ + MIN_NORM) - c- d- / sqrt(m- + MIN_NORM))`` times the
    upwind gradient magnitude, ``sqrt(sum_i min(d-, 0)² + max(d+, 0)²)`` where ``s > 0`` and
    ``sqrt(sum_i max(d-, 0)² + min(d+, 0)²)`` elsewhere. Every value read is converted to a float64
    first (``float``: NumPy scalars under the CUDA simulator would otherwise keep float32), and
    the operations are in the order of the array code they replace.
    """
    centre = float(r11[x])
    if k == 0.0:
        return centre
    sz, sy, sx = scale
    three = sz != 0
    # The faces and their x neighbours, then the edge neighbours (z, y), (z, x) and (y, x).
    zb, za = float(r01[x]), float(r21[x])
    yb, ya = float(r10[x]), float(r12[x])
    xb, xa = float(r11[xm]), float(r11[xp])
    zbyb, zbya, zayb, zaya = float(r00[x]), float(r02[x]), float(r20[x]), float(r22[x])
    zbxb, zbxa, zaxb, zaxa = float(r01[xm]), float(r01[xp]), float(r21[xm]), float(r21[xp])
    ybxb, ybxa, yaxb, yaxa = float(r10[xm]), float(r10[xp]), float(r12[xm]), float(r12[xp])
    gz = (za - zb) / 2 * sz
    gy = (ya - yb) / 2 * sy
    gx = (xa - xb) / 2 * sx
    speed = grow = shrink = 0.0
    if three:
        forward = (za - centre) * sz
        backward = (centre - zb) * sz
        ahead = _face(forward, True, gy, zaya, zayb, sy, gx, zaxa, zaxb, sx)
        behind = _face(backward, True, gy, zbya, zbyb, sy, gx, zbxa, zbxb, sx)
        speed, grow, shrink = _accumulate(method, k, forward, backward, ahead, behind, speed, grow, shrink)
    forward = (ya - centre) * sy
    backward = (centre - yb) * sy
    ahead = _face(forward, three, gz, zaya, zbya, sz, gx, yaxa, yaxb, sx)
    behind = _face(backward, three, gz, zayb, zbyb, sz, gx, ybxa, ybxb, sx)
    speed, grow, shrink = _accumulate(method, k, forward, backward, ahead, behind, speed, grow, shrink)
    forward = (xa - centre) * sx
    backward = (centre - xb) * sx
    ahead = _face(forward, three, gz, zaxa, zbxa, sz, gy, yaxa, ybxa, sy)
    behind = _face(backward, three, gz, zaxb, zbxb, sz, gy, yaxb, ybxb, sy)
    speed, grow, shrink = _accumulate(method, k, forward, backward, ahead, behind, speed, grow, shrink)
    if method == GRADIENT:
        return centre + time_step * speed
    return centre + time_step * (math.sqrt(grow if speed > 0 else shrink) * speed)


@numba.njit(inline="always")
def _k(total, count, conductance2):
    """ITK's ``-2 conductance² <|grad I|²>`` from the sum of squared gradients over the volume."""
    return total[0] / count * conductance2 * -2.0


@numba.njit(inline="always")
def _rows(src, z, y):
    """The nine rows ``(z + dz, y + dy)`` around voxel row ``(z, y)``, mapped into the volume."""
    nz, ny, _ = src.shape
    z0, z2 = max(z - 1, 0), min(z + 1, nz - 1)
    y0, y2 = max(y - 1, 0), min(y + 1, ny - 1)
    return (
        src[z0, y0], src[z0, y], src[z0, y2],
        src[z, y0], src[z, y], src[z, y2],
        src[z2, y0], src[z2, y], src[z2, y2],
    )  # fmt: skip


@cpu_kernel
def _squares_cpu(src, scale, partial):
    """``partial[row]``: the sum of ``|grad I|²`` along row ``(z, y)``."""
    nz, ny, nx = src.shape
    for row in numba.prange(nz * ny):
        z = row // ny
        y = row - z * ny
        _, r01, _, r10, r11, r12, _, r21, _ = _rows(src, z, y)
        total = 0.0
        for x in range(nx):
            total += _squared_gradient(r01, r21, r10, r12, r11, max(x - 1, 0), x, min(x + 1, nx - 1), scale)
        partial[row] = total


@cpu_kernel
def _step_cpu(src, out, total, count, conductance2, scale, time_step, method):
    """One row (z, y) per iteration: its nine neighbour rows mapped once, the two end voxels with
    their x neighbours mapped, the inner voxels with none."""
    nz, ny, nx = src.shape
    k = _k(total, count, conductance2)
    for row in numba.prange(nz * ny):
        z = row // ny
        y = row - z * ny
        r00, r01, r02, r10, r11, r12, r20, r21, r22 = _rows(src, z, y)
        line = out[z, y]
        for x in (0, nx - 1):
            xm, xp = max(x - 1, 0), min(x + 1, nx - 1)
            line[x] = _voxel(
                r00, r01, r02, r10, r11, r12, r20, r21, r22, xm, x, xp, scale, k, time_step, method
            )
        for x in range(1, nx - 1):
            line[x] = _voxel(
                r00, r01, r02, r10, r11, r12, r20, r21, r22, x - 1, x, x + 1, scale, k, time_step, method
            )


@cuda_kernel(
    "void(float32[:, :, ::1], UniTuple(float64, 3), float64[::1])",
    "void(float64[:, :, ::1], UniTuple(float64, 3), float64[::1])",
)
def _squares_cuda(src, scale, partial):
    """``partial[block]``: the sum of ``|grad I|²`` over the voxels of one block of threads."""
    x, y, z = cuda.grid(3)
    nz, ny, nx = src.shape
    value = 0.0
    if z < nz and y < ny and x < nx:
        _, r01, _, r10, r11, r12, _, r21, _ = _rows(src, z, y)
        value = _squared_gradient(r01, r21, r10, r12, r11, max(x - 1, 0), x, min(x + 1, nx - 1), scale)
    sums = cuda.shared.array(_BLOCK, numba.float64)
    tid = cuda.threadIdx.x + cuda.blockDim.x * (cuda.threadIdx.y + cuda.blockDim.y * cuda.threadIdx.z)
    sums[tid] = value
    cuda.syncthreads()
    stride = _BLOCK // 2
    while stride > 0:
        if tid < stride:
            sums[tid] += sums[tid + stride]
        cuda.syncthreads()
        stride //= 2
    if tid == 0:
        block = cuda.blockIdx.x + cuda.gridDim.x * (cuda.blockIdx.y + cuda.gridDim.y * cuda.blockIdx.z)
        partial[block] = sums[0]


_STEP_ARGS = "float64[::1], float64, float64, UniTuple(float64, 3), float64, int64"


@cuda_kernel(
    f"void(float32[:, :, ::1], float32[:, :, ::1], {_STEP_ARGS})",
    f"void(float64[:, :, ::1], float64[:, :, ::1], {_STEP_ARGS})",
)
def _step_cuda(src, out, total, count, conductance2, scale, time_step, method):
    x, y, z = cuda.grid(3)
    nx = src.shape[2]
    if z < src.shape[0] and y < src.shape[1] and x < nx:
        r00, r01, r02, r10, r11, r12, r20, r21, r22 = _rows(src, z, y)
        k = _k(total, count, conductance2)
        xm, xp = max(x - 1, 0), min(x + 1, nx - 1)
        out[z, y, x] = _voxel(
            r00, r01, r02, r10, r11, r12, r20, r21, r22, xm, x, xp, scale, k, time_step, method
        )


def partial_size(shape, target):
    """Length of the float64 array of partial sums :func:`diffusion` needs for a volume of ``shape``."""
    nz, ny, nx = shape
    if target == "cuda":
        bx, by, bz = block_3d(shape)
        return -(-nx // bx) * -(-ny // by) * -(-nz // bz)
    return nz * ny


def diffusion(src, out, partial, *, target, iterations, scale, time_step, conductance, method):
    """Run ``iterations`` steps on the 3D float array ``src`` (overwritten: the two arrays are used
    in turn); return the one holding the result.

    Parameters
    ----------
    src, out : 3D C-contiguous float32 or float64 arrays of one dtype on the target's device
    partial : 1D float64 array of :func:`partial_size` elements on the same device
        Room for the partial sums of the squared gradient.
    target : {"cpu", "cuda"}
    scale : tuple of 3 float
        Inverse spacing along z, y, x [1/mm]; 0 along z for a 2D image seen as one slice.
    conductance : float
        SimpleITK's ``conductanceParameter``.
    method : {GRADIENT, CURVATURE}
    """
    count = float(src.size)
    conductance2 = conductance**2
    for _ in range(iterations):
        if target == "cuda":
            launch_3d(_squares_cuda, src.shape, src, scale, partial)
        else:
            _squares_cpu(src, scale, partial)
        total = partial.sum(keepdims=True)  # on the device, summed in float64
        args = (total, count, conductance2, scale, time_step, method)
        if target == "cuda":
            launch_3d(_step_cuda, src.shape, src, out, *args)
        else:
            _step_cpu(src, out, *args)
        src, out = out, src
    return src
