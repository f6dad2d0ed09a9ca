"""Import rules and costs: the layers point down (import-linter's contracts in pyproject.toml:
no Qt below ``faceapp.gui``, no storage in the front ends, nothing below the application layer
importing it, ``faceapp`` never importing ``training``), ``import faceapp`` stays cheap, and
nothing but the GUI loads Qt.

Each cost check runs in a fresh interpreter, since this test process has long since imported
torch and maybe PySide6.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import faceapp

REPO_ROOT = Path(__file__).resolve().parents[1]
# import-linter's command (lint-imports), run by the interpreter running the tests.
LINT_IMPORTS = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; "
                "sys.exit(c(['--no-cache']))"]


def lint_imports(cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(LINT_IMPORTS, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})

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


def contracts() -> list[dict]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_the_import_contracts_hold() -> None:
    """lint-imports reads the contracts from pyproject.toml and exits 1 naming each broken import."""
    result = lint_imports(REPO_ROOT)
    if result.returncode != 0 and "No module named importlinter" in result.stderr:
        pytest.fail("import-linter is missing: install the test extra (pip install -e '.[test]')")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_every_module_below_the_application_layer_is_under_contract() -> None:
    """A new core module must not slip past the layering contract by not being listed."""
    (below,) = [c for c in contracts() if c["name"].startswith("Nothing below the application layer")]
    above = {"faceapp.app", "faceapp.cli", "faceapp.gui", "faceapp.__main__"}
    modules = {f"faceapp.{m.name}" for m in pkgutil.iter_modules(faceapp.__path__)} - above
    assert modules <= set(below["source_modules"]), sorted(modules - set(below["source_modules"]))


def test_a_broken_contract_is_reported(tmp_path: Path) -> None:
    """The checker can fail: a package whose core imports its front end breaks the same kind of contract."""
    package = tmp_path / "toyapp"
    (package / "cli").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cli" / "__init__.py").write_text("")
    (package / "match.py").write_text("from toyapp import cli\n")
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_package = toyapp\n\n[importlinter:contract:core]\nname = core below cli\n"
        "type = forbidden\nsource_modules =\n    toyapp.match\nforbidden_modules =\n    toyapp.cli\n"
    )
    result = lint_imports(tmp_path, PYTHONPATH=str(tmp_path))
    assert result.returncode == 1 and "toyapp.match -> toyapp.cli" in result.stdout


@pytest.mark.parametrize("module", ["faceapp.pipeline", "faceapp.cli", "faceapp.app", "faceapp.storage", "faceapp.match", "faceapp.camera", "faceapp.reencode"])
def test_core_modules_do_not_load_qt(module: str) -> None:
    assert not loaded_after(f"import faceapp, {module}")["PySide6"], f"{module} must not import PySide6"


def test_the_lazy_names_resolve() -> None:
    import faceapp

    for name in faceapp.__all__:
        assert getattr(faceapp, name) is not None, name
    with pytest.raises(AttributeError):
        faceapp.no_such_name  # noqa: B018
