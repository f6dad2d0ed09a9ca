"""Import costs: ``import faceapp`` stays cheap, and nothing but the GUI loads Qt.

Each check runs in a fresh interpreter, since this test process has long since imported
torch and maybe PySide6.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "PySide6", "cv2")


def loaded_after(statement: str) -> dict[str, bool]:
    """Which heavy modules a fresh interpreter has in sys.modules after running ``statement``."""
    code = f"import json, sys\n{statement}\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_faceapp_loads_neither_torch_nor_qt() -> None:
    loaded = loaded_after("import faceapp; faceapp.__version__; faceapp.FaceAppError")
    assert not loaded["torch"], "import faceapp must not import torch"
    assert not loaded["PySide6"], "import faceapp must not import PySide6"


@pytest.mark.parametrize("module", ["faceapp.pipeline", "faceapp.cli", "faceapp.store", "faceapp.match", "faceapp.camera", "faceapp.reencode"])
def test_core_modules_do_not_load_qt(module: str) -> None:
    assert not loaded_after(f"import faceapp, {module}")["PySide6"], f"{module} must not import PySide6"


def test_the_lazy_names_resolve() -> None:
    import faceapp

    for name in faceapp.__all__:
        assert getattr(faceapp, name) is not None, name
    with pytest.raises(AttributeError):
        faceapp.no_such_name  # noqa: B018
