"""Coverage of the lines that run only on the CUDA path, from a coverage.py data file.

The CUDA-only lines are found in the source, not listed by hand:

- the bodies of the CUDA kernels (functions declared with ``@cuda_kernel``);
- the branch of an ``if`` taken on the CUDA device only (a test comparing a ``device`` / ``target``
  with ``"cuda"``, or with ``"cpu"`` through ``!=``; ``is_cupy(...)``), or the ``else`` of a test
  for the CPU, and the statements after an ``if`` on the CPU whose body returns or raises;
- the CUDA namespace of :mod:`gpuimg.backend.namespaces` (``_cuda`` and ``_CupyxNdimage`` with its
  helpers) and the emulated device itself is excluded (it is the test harness).

Usage::

    coverage run --include='gpuimg/*,kernels/*' -m pytest -m 'emulated_cuda or cudasim'
    python -m gpuimg.testing.cuda_coverage [.coverage]
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Whole functions and classes of the backend that exist for the CUDA device only.
_CUDA_DEFINITIONS = {"_cuda", "_CupyxNdimage", "_constant_for_grid_constant", "_edt_any_ndim"}


def _compares(test: ast.expr, device: str, op: type) -> bool:
    return any(
        isinstance(node, ast.Compare)
        and any(isinstance(o, op) for o in node.ops)
        and any(isinstance(c, ast.Constant) and c.value == device for c in node.comparators)
        for node in ast.walk(test)
    )


def _on_cuda(test: ast.expr) -> bool:
    calls_is_cupy = any(
        isinstance(n, ast.Call) and getattr(n.func, "id", None) == "is_cupy" for n in ast.walk(test)
    )
    return calls_is_cupy or _compares(test, "cuda", ast.Eq) or _compares(test, "cpu", ast.NotEq)


def _on_cpu(test: ast.expr) -> bool:
    return not isinstance(test, ast.BoolOp) and (
        _compares(test, "cpu", ast.Eq) or _compares(test, "cuda", ast.NotEq)
    )


def _lines(nodes) -> set[int]:
    """The lines of the statements in ``nodes``, without docstrings (Python compiles no code for them,
    so coverage.py never counts them as run)."""
    lines = set()
    for node in nodes:
        for child in ast.walk(node):
            if isinstance(child, ast.stmt) and not _is_docstring(child):
                lines.add(child.lineno)
    return lines


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def cuda_lines(path: Path) -> set[int]:
    """The statements of ``path`` that run only on the CUDA path."""
    tree = ast.parse(path.read_text())
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            decorated = any("cuda_kernel" in ast.unparse(d) for d in getattr(node, "decorator_list", ()))
            backend = path.name == "namespaces.py" and node.name in _CUDA_DEFINITIONS
            if decorated or backend:
                lines |= _lines(node.body)
        for field in ("body", "orelse"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            for i, statement in enumerate(block):
                if not isinstance(statement, ast.If):
                    continue
                if _on_cuda(statement.test):
                    lines |= _lines(statement.body)
                elif _on_cpu(statement.test):
                    lines |= _lines(statement.orelse)
                    if statement.body and isinstance(statement.body[-1], (ast.Return, ast.Raise)):
                        lines |= _lines(block[i + 1 :])
    return lines


def sources() -> list[Path]:
    return sorted(
        p
        for folder in ("gpuimg", "kernels")
        for p in (ROOT / folder).rglob("*.py")
        if "testing" not in p.parts and p.name != "ptx.py"
    )


def report(data_file: str = ".coverage") -> tuple[int, int, dict[str, list[int]]]:
    """(covered, total, uncovered lines by file) of the CUDA-only lines."""
    import coverage

    data = coverage.CoverageData(basename=data_file)
    data.read()
    measured = {str(Path(f).resolve()): set(data.lines(f) or ()) for f in data.measured_files()}
    covered = total = 0
    uncovered: dict[str, list[int]] = {}
    for path in sources():
        lines = cuda_lines(path)
        if not lines:
            continue
        hit = measured.get(str(path), set())
        total += len(lines)
        covered += len(lines & hit)
        missing = sorted(lines - hit)
        if missing:
            uncovered[str(path.relative_to(ROOT))] = missing
    return covered, total, uncovered


if __name__ == "__main__":
    covered, total, uncovered = report(*sys.argv[1:])
    for name, missing in uncovered.items():
        print(f"{name}: {missing}")
    print(f"CUDA-only lines covered: {covered} / {total} = {100 * covered / max(total, 1):.1f}%")
