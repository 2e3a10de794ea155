"""examples/quickstart.ipynb runs top to bottom in a real Jupyter kernel (nbclient), and says what it should."""

import nbformat
import pytest
from conftest import ROOT
from nbclient import NotebookClient

pytestmark = pytest.mark.slow


def _text(cell):
    """A code cell's printed and displayed output as one string."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_quickstart_notebook_runs(tmp_path):
    notebook = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
                   allow_errors=False).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    printed = [_text(cell) for cell in code]
    best = next(text for text in printed if text.startswith("best: "))
    assert int(best.split()[1]) > 40  # 60 bits: a random individual has about 30 ones
    assert "identical: True\n" in printed
    front = next(text for text in printed if "points on the front" in text)
    assert int(front.split()[0]) >= 2
    assert printed[-1] == "unknown setting 'populaton'. Did you mean \"population\"?\n"
    assert not list(tmp_path.iterdir())  # out=None: nothing written
