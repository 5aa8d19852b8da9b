"""bin/setup, the first step of `make run` and `make test`, on a machine whose Python is too old."""

import shutil
import subprocess
import sys

import pytest

from tests.worker import ROOT

# A Python 3.10 as far as a script can tell: its version, and any code it is given to run.
OLD_PYTHON = f"""#!{sys.executable}
import sys
sys.version_info = (3, 10, 13, "final", 0)
if sys.argv[1] == "--version":
    print("Python 3.10.13")
elif sys.argv[1] == "-c":
    exec(sys.argv[2])
else:
    sys.exit("not here")
"""


@pytest.fixture
def checkout(tmp_path):
    (tmp_path / "bin").mkdir()
    shutil.copy(ROOT / "bin" / "setup", tmp_path / "bin" / "setup")
    for name in ("pyproject.toml", "constraints.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _executable(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def _setup(checkout, python):
    return subprocess.run(
        [checkout / "bin" / "setup"],
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(python)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_a_python_older_than_3_11_before_making_a_venv(checkout, tmp_path_factory):
    old = _executable(tmp_path_factory.mktemp("python") / "python3", OLD_PYTHON)

    run = _setup(checkout, old)

    assert run.returncode == 1
    assert f"Offload needs Python 3.11 or later, and {old} is Python 3.10.13." in run.stderr
    assert "PYTHON=python3.12 make run" in run.stderr
    assert not (checkout / ".venv").exists()


def test_it_says_to_remove_a_venv_an_older_python_made(checkout):
    _executable(checkout / ".venv" / "bin" / "python", OLD_PYTHON)
    # pip inside that .venv refuses the project: "requires a different Python: 3.10.13".
    _executable(checkout / ".venv" / "bin" / "pip", "#!/bin/sh\nexit 1\n")

    run = _setup(checkout, sys.executable)

    assert run.returncode == 1
    assert ".venv was made with Python 3.10.13, older than Offload needs (3.11)." in run.stderr
    assert "remove it (rm -rf .venv) and run again" in run.stderr
