"""Running a command where file permissions apply, as a user meets them (a folder of mode 000 refuses
it): as root, without the capabilities that let root past them (setpriv)."""

import os
import shutil
import subprocess

import pytest

#: setpriv without the capabilities that pass file permissions (read, write, search).
NO_ROOT_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def user_prefix() -> list[str]:
    """What to put before a command so that file permissions apply to it: nothing for a user,
    :data:`NO_ROOT_OVERRIDE` for root; the test is skipped as root where setpriv cannot drop them."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None or subprocess.run([*NO_ROOT_OVERRIDE, "true"]).returncode:
        pytest.skip("root here, and setpriv cannot drop the capabilities that pass file permissions")
    return NO_ROOT_OVERRIDE


def run_as_user(*command: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``command`` run where file permissions apply (see :func:`user_prefix`), its output as text."""
    return subprocess.run([*user_prefix(), *command], capture_output=True, text=True, timeout=timeout)
