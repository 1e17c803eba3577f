"""The worker writes bytecode for the workflow modules, which the sandbox re-imports for
every workflow run, even where Python writes none itself (PYTHONDONTWRITEBYTECODE)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from funnel.runtime.bytecode import write_workflow_bytecode
from workflows.deal import DealWorkflow


def test_a_workflow_module_gets_bytecode_that_python_will_load(tmp_path: Path) -> None:
    package = tmp_path / "somewf"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "flows.py").write_text("class Flow:\n    pass\n")
    (package / "deeper").mkdir()
    (package / "deeper" / "other.py").write_text("x = 1\n")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from somewf.flows import Flow;"
        "from funnel.runtime.bytecode import write_workflow_bytecode;"
        "write_workflow_bytecode(Flow)"
    )
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        check=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    cached = Path(importlib.util.cache_from_source(str(package / "flows.py")))
    assert cached.exists()
    # Valid for the source as it is: Python checks the source's mtime and size in it.
    source = (package / "flows.py").stat()
    header = cached.read_bytes()[:16]
    assert int.from_bytes(header[8:12], "little") == int(source.st_mtime)
    assert int.from_bytes(header[12:16], "little") == source.st_size
    # Only the workflow's own folder: nothing below it.
    assert not Path(importlib.util.cache_from_source(str(package / "deeper" / "other.py"))).exists()


def test_the_deal_workflow_folder_is_compiled() -> None:
    write_workflow_bytecode(DealWorkflow)
    deal = Path(sys.modules[DealWorkflow.__module__].__file__ or "")
    for module in ("deal.py", "robots.py", "moves.py"):
        assert Path(importlib.util.cache_from_source(str(deal.parent / module))).exists()
