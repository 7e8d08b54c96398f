"""Arithmetic that both kernel targets round alike: a product that is never fused with an add, a
rounding to a given float type, and the magnitude of a gradient whose squares neither overflow nor
vanish.

On sm_90 NVVM contracts ``a * b + c`` into one fused multiply-add (one rounding instead of two)
whatever the IR's fast-math flags say, and numba-cuda gives ``cuda.jit`` no way to pass NVVM's
``-fma=0``; the CPU target (LLVM without ``fastmath``) never contracts. A product written as
:func:`product` is rounded on its own on both targets: plain ``a * b`` on the CPU, libdevice's
``__nv_dmul_rn`` / ``__nv_fmul_rn`` (PTX ``mul.rn``, which ptxas does not fuse) on CUDA. Numbers
then match the CPU target and the NumPy code the kernels reproduce (scikit-image's Canny, ``np.interp``).
"""

import math

import numba
from numba import config, types
from numba.core.extending import overload


def product(a, b):
    """``a * b``, rounded before any add that follows it.

    Examples
    --------
    >>> product(0.1, 3.0)
    0.30000000000000004
    """
    return a * b


@overload(product, target="cpu")
def _product_cpu(a, b):
    return lambda a, b: a * b


def rounded(value, like):
    """``value`` rounded to the float type of ``like`` (as a store into an array of that type rounds).

    A kernel written once for float32 and float64 arrays computes in float64 and rounds where the
    code it reproduces stores an intermediate array (SciPy's filters between their 1D passes).

    Examples
    --------
    >>> import numpy as np
    >>> float(rounded(0.1, np.float32(0.0)))
    0.10000000149011612
    """
    return type(like)(value)


@overload(rounded, target="cpu")
def _rounded_cpu(value, like):
    if isinstance(like, types.Float):
        kind = like
        return lambda value, like: kind(value)
    return None


#: float32's and float64's smallest normal numbers (2**-126, 2**-1022) times 2**26: see :func:`least_squared`.
_LEAST_SQUARED_32 = 2.0**-100
_LEAST_SQUARED_64 = 2.0**-996


@numba.njit(inline="always")
def least_squared(like):
    """The sum of squares below which a square may have lost digits to subnormal numbers, in the
    float type of ``like``: that type's smallest normal number times 2**26, 2**-100 in float32 and
    2**-996 in float64.

    A square below the smallest normal number is subnormal and off by up to half the smallest
    subnormal (2**-150, 2**-1075); from this bound on, three such errors are below 2**-25 of a unit in
    the last place of the sum, whose plain root then stands. The type is told by rounding (float64's
    bound is 0 in float32): a constant once compiled, on both targets.

    Examples
    --------
    >>> import numpy as np
    >>> float(least_squared(np.float32(1.0))) == 2.0**-100, float(least_squared(1.0)) == 2.0**-996
    (True, True)
    """
    wide = rounded(_LEAST_SQUARED_64, like)
    return wide if wide != 0 else rounded(_LEAST_SQUARED_32, like)


@numba.njit(inline="always")
def _root_of_squares(gz, gy, gx):
    """``gz² + gy² + gx²`` and its square root in the gradient's float type, each step rounded as
    NumPy's."""
    squared = product(gz, gz) + product(gy, gy)
    squared = squared + product(gx, gx)
    return squared, rounded(math.sqrt(float(squared)), gx)


@numba.njit(inline="always")
def magnitude(gz, gy, gx):
    """``sqrt(gz² + gy² + gx²)`` in the gradient's float type, each step rounded as NumPy's.

    Where the sum of squares overflows (a finite gradient beyond about 1.8e19 in float32, 1.3e154 in
    float64) or falls below :func:`least_squared` (squares of about 1e-19 and less lose digits in
    float32, then vanish; of about 1e-154 and less in float64), the
    gradient is divided by the power of two ``p`` just above its largest component, which is exact,
    and the magnitude of the quotient multiplied by ``p``: the number NumPy's arithmetic gives where
    nothing overflows or underflows, so an image scaled by a power of two has its magnitudes scaled
    alike. A NaN or infinite component gives NumPy's NaN or inf.

    Examples
    --------
    The squares of 3e19 and 4e19 overflow float32; their magnitude is float32's nearest to 5e19:

    >>> import numpy as np
    >>> float(magnitude(np.float32(3e19), np.float32(0.0), np.float32(4e19)))
    5.000000100204387e+19
    >>> float(np.float32(5e19))
    5.000000100204387e+19
    """
    squared, root = _root_of_squares(gz, gy, gx)
    if squared < least_squared(squared) or squared == math.inf:
        largest = max(abs(float(gz)), abs(float(gy)), abs(float(gx)))
        if 0.0 < largest < math.inf:
            scale = math.ldexp(1.0, math.frexp(largest)[1])
            like = rounded(0.0, gx)
            qz = rounded(float(gz) / scale, like)
            qy = rounded(float(gy) / scale, like)
            qx = rounded(float(gx) / scale, like)
            inner = _root_of_squares(qz, qy, qx)[1]
            return rounded(float(inner) * scale, like)
    return root


_REGISTERED = []


def register_cuda_lowerings() -> None:
    """Give :func:`product` and :func:`rounded` their CUDA typing and lowering, once; called by
    :func:`gpuimg.kernels.registry.load_cuda` when ``numba.cuda`` loads (a CPU-only process never
    imports it). Nothing under the simulator, which runs the CPU target's code, nor with Numba's own
    deprecated CUDA target (no numba-cuda installed; the ``cuda13`` / ``cuda12`` extras install it),
    whose API differs and where kernels calling :func:`product` do not compile."""
    if _REGISTERED or config.ENABLE_CUDASIM:
        return
    try:
        from numba.cuda import libdevice
        from numba.cuda import types as cuda_types
        from numba.cuda.extending import lower_builtin, type_callable
        from numba.cuda.typing import signature
    except ImportError:
        return
    _REGISTERED.append(True)

    @type_callable(product)
    def _type_product(context):
        def typer(a, b):
            if isinstance(a, cuda_types.Float) and isinstance(b, cuda_types.Float):
                both_single = a == cuda_types.float32 and b == cuda_types.float32
                return cuda_types.float32 if both_single else cuda_types.float64
            return None

        return typer

    @lower_builtin(product, cuda_types.Float, cuda_types.Float)
    def _lower_product(context, builder, sig, args):
        kind = sig.return_type
        a, b = (context.cast(builder, value, t, kind) for value, t in zip(args, sig.args, strict=True))
        multiply = libdevice.fmul_rn if kind == cuda_types.float32 else libdevice.dmul_rn
        return context.get_function(multiply, signature(kind, kind, kind))(builder, (a, b))

    @type_callable(rounded)
    def _type_rounded(context):
        def typer(value, like):
            if isinstance(value, cuda_types.Float) and isinstance(like, cuda_types.Float):
                return like
            return None

        return typer

    @lower_builtin(rounded, cuda_types.Float, cuda_types.Float)
    def _lower_rounded(context, builder, sig, args):
        return context.cast(builder, args[0], sig.args[0], sig.return_type)
