"""Device memory of each operation of benchmarks/operations.py, measured on the emulated CUDA device.

    python benchmarks/bench_memory.py [--size 128] [--simulate] [--only NAME] [--json FILE]

For each operation (and a few more that issue 13 named): the peak bytes of device arrays alive during
the call (its input and output included), as a multiple of the input's bytes. A filter that writes one
output of its input's dtype needs 2x; the goal is at most 3x for filters and edges.

The emulated device (gpuimg.testing.emulated_cuda) counts every device buffer that reaches gpuimg's
code: results of CuPy / cupyx / cuCIM calls and the arrays gpuimg allocates, not the libraries'
internal temporaries nor the memory pool's cache. By default the CUDA kernels are not run (their
launches are skipped and the emulated ``empty`` gives zeros), which keeps 128³ inputs quick and
changes no allocation of the glue except those sized by a kernel's result (edge counts, labels);
``--simulate`` runs them in Numba's simulator instead, for small ``--size`` only (it runs about a
thousand threads a second).
"""

import argparse
import json
import os
import sys
from pathlib import Path


def _skip_kernels(emu) -> None:
    """Kernel launches do nothing; the emulated ``empty`` (``empty_like``) gives zeros instead."""
    import numba  # noqa: F401  (the simulator is chosen before gpuimg.kernels imports numba.cuda)

    from gpuimg.kernels import load_all, registry

    load_all()
    launches = {registry.launch_3d, getattr(registry, "launch", None)} - {None}
    for name, module in list(sys.modules.items()):
        if name.startswith("gpuimg.kernels"):
            for attr in ("launch_3d", "launch"):
                if getattr(module, attr, None) in launches:
                    setattr(module, attr, lambda *args, **kwargs: None)
    cupy = emu.modules["cupy"]
    cupy.empty, cupy.empty_like = cupy.zeros, cupy.zeros_like


def _extra_operations():
    """Operations outside the comparison whose device memory issue 13 named (defect 14)."""
    from operations import Operation

    import gpuimg

    def row(name, dtype, ours):
        return Operation(name, (256, 256, 256), dtype, lambda ns: "", lambda ns, image: None, ours)

    return [
        row("zscore", "int16", gpuimg.preprocess.zscore),
        row("rescale_intensity", "int16", gpuimg.preprocess.rescale_intensity),
        row("gradient_direction", "float32", gpuimg.edges.gradient_direction),
        row("voxel_features", "float32", lambda image: gpuimg.ml.voxel_features(image, (1.0, 2.0, 4.0))),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="side of the input (volumes: size³)")
    parser.add_argument("--simulate", action="store_true", help="run the kernels in the simulator")
    parser.add_argument("--only", help="run only the operation of this name")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)

    import numpy as np
    from operations import OPERATIONS

    from gpuimg.errors import GpuimgError
    from gpuimg.testing import MEMORY, emulated_cuda

    rows = []
    with emulated_cuda() as emu:
        if not args.simulate:
            _skip_kernels(emu)
        cupy = emu.modules["cupy"]
        mode = "kernels simulated" if args.simulate else "kernel launches skipped"
        print(f"device memory on the emulated CUDA device, inputs of side {args.size} ({mode})")
        header = f"{'operation':<22} {'input':<22} {'input MiB':>9} {'peak MiB':>9} {'x input':>8}"
        print(header)
        print("-" * len(header))
        for op in [*OPERATIONS, *_extra_operations()]:
            if args.only and op.name != args.only:
                continue
            shape = (args.size,) * len(op.shape)
            rng = np.random.default_rng(0)
            if op.build is None:
                host = rng.normal(0.0, 100.0, shape).astype(op.dtype)
            else:
                host = op.build(rng, shape, op.dtype)
            image = cupy.asarray(host)
            MEMORY.reset()
            try:
                result = op.ours(image)
            except GpuimgError as exc:  # an input built for 256³ (marching cubes' level) at a small size
                print(f"{op.name:<22} skipped: {exc}")
                continue
            peak = MEMORY.peak
            del result, image
            row = {
                "operation": op.name,
                "input": "x".join(map(str, shape)) + f" {op.dtype}",
                "input_bytes": int(host.nbytes),
                "peak_bytes": int(peak),
                "multiple": peak / host.nbytes,
            }
            rows.append(row)
            print(
                f"{row['operation']:<22} {row['input']:<22} {host.nbytes / 2**20:>9.1f} "
                f"{peak / 2**20:>9.1f} {row['multiple']:>8.2f}"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    # The kernels' CUDA target is Numba's simulator here (chosen before anything imports numba.cuda);
    # set only in this process, not in the helper process that holds the real cuML.
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
