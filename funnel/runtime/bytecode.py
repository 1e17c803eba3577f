"""Bytecode for the workflow modules, written once when a worker starts.

The workflow sandbox imports a workflow's module afresh for every workflow run: that is how
it keeps one run's module state from another's. Python loads such a module from its
bytecode cache when one is on disk. Where none gets written (``PYTHONDONTWRITEBYTECODE``,
set on this project's CI machines, or a tree nobody wrote ``__pycache__`` into), every deal
the worker starts or replays compiles ``workflows/deal.py`` and its sandboxed imports from
source again, a cost paid once per workflow run.
"""

from __future__ import annotations

import compileall
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def write_workflow_bytecode(*workflow_classes: type) -> None:
    """Compile the folder of each workflow class's module (not below it). A folder the
    process cannot write to is left as it is: the sandbox then compiles from source, as
    before, and nothing else changes."""
    folders = {Path(str(sys.modules[cls.__module__].__file__)).parent for cls in workflow_classes}
    for folder in sorted(folders):
        if not compileall.compile_dir(folder, maxlevels=0, quiet=2):
            log.info("could not write bytecode in %s; workflow runs compile from source", folder)
