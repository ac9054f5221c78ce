"""The four example scripts and the CLV notebook run end to end at test size.

Each runs in its own process on the public API only (as a user would run it), with
``BAYESCOPE_EXAMPLES_SMALL=1`` and its runs saved under a temporary folder; the notebook runs
through nbclient on the same settings.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = {"clv.py": "Of 100 new customers", "spend.py": "What each campaign adds",
           "propensity.py": "Segments:", "tickets.py": "Where should"}


def _environment(out: Path) -> dict[str, str]:
    return {**os.environ, "BAYESCOPE_EXAMPLES_SMALL": "1", "BAYESCOPE_EXAMPLES_OUT": str(out),
            "MPLBACKEND": "Agg"}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_example_script_runs(script: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=EXAMPLES,
                          env=_environment(tmp_path), capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert SCRIPTS[script] in done.stdout
    name = script.removesuffix(".py")
    assert (tmp_path / name / "posterior.nc").is_file()  # the InferenceData was saved


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_examples_use_only_the_public_api(script: str) -> None:
    """Scripts import ``bayescope`` and its data helpers, never families or internals."""
    tree = ast.parse((EXAMPLES / script).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                "bayescope"):
            assert node.module == "bayescope" or node.module.startswith("bayescope.data"), (
                f"{script} imports {node.module}")


def test_notebook_runs(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(EXAMPLES / "clv_walkthrough.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    os.environ.update({k: v for k, v in _environment(tmp_path).items()
                       if k.startswith("BAYESCOPE_") or k == "MPLBACKEND"})
    try:
        nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    finally:
        for key in ("BAYESCOPE_EXAMPLES_SMALL", "BAYESCOPE_EXAMPLES_OUT"):
            os.environ.pop(key, None)
    assert (tmp_path / "clv_walkthrough" / "report" / "index.html").is_file()
