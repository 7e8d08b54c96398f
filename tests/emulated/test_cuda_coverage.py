"""gpuimg.testing.cuda_coverage counts only lines that Python compiles code for: any other line is
never seen run by coverage.py and would be reported as a CUDA line no test covers."""

import types

from gpuimg.testing import cuda_coverage


def executable_lines(path) -> set[int]:
    """The lines of the code objects CPython compiles from ``path`` (module, functions, classes)."""
    stack, lines = [compile(path.read_text(), str(path), "exec")], set()
    while stack:
        code = stack.pop()
        lines |= {line for _, _, line in code.co_lines() if line is not None}
        stack += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return lines


def test_cuda_lines_are_lines_python_executes():
    counted = 0
    for path in cuda_coverage.sources():
        lines = cuda_coverage.cuda_lines(path)
        counted += len(lines)
        assert lines <= executable_lines(path), (path, sorted(lines - executable_lines(path)))
    assert counted > 100  # the kernels' bodies at least


def test_a_kernel_docstring_is_not_a_cuda_line(tmp_path):
    source = tmp_path / "k.py"
    source.write_text('@cuda_kernel("void(float32[:])")\ndef k(a):\n    """Doc."""\n    a[0] = 1\n')
    assert cuda_coverage.cuda_lines(source) == {4}
