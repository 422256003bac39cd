"""The layering of DESIGN.md §3, as import-linter contracts (pyproject.toml): a new arrow back up fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("KEPT") >= 7  # every contract ran


def test_a_back_import_breaks_a_contract(tmp_path: Path) -> None:
    """The contracts can fail: a copy of the tree where translate imports the server is refused."""
    import shutil

    for pkg in ("crabllm", "tui"):
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bad = tmp_path / "crabllm" / "translate" / "common.py"
    bad.write_text(bad.read_text() + "\nfrom crabllm.server.http import Exchange  # noqa\n")
    lint = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(lint), "--config", str(tmp_path / "pyproject.toml")], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert r.returncode != 0 and "crabllm.translate.common -> crabllm.server.http" in r.stdout, r.stdout + r.stderr
