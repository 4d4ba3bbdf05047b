"""install.sh, run for real in a temporary HOME: a venv, the package, two links that work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "install.sh"


def _run(args: list[str], home: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "PYTHON": sys.executable}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(["sh", str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.mark.timeout(900)
def test_install_from_a_checkout_links_working_commands(tmp_path: Path) -> None:
    # A copy without the venv and caches: what a user who cloned the repository has.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "*.egg-info", "__pycache__", ".mypy_cache", ".ruff_cache",
        ".pytest_cache", "data", "build"))
    home = tmp_path / "home"
    home.mkdir()
    done = _run(["--from", str(src)], home)
    assert done.returncode == 0, done.stderr
    bindir = home / ".local" / "bin"
    for cmd in ("fila-server", "fila"):
        link = bindir / cmd
        assert link.is_symlink()
        assert Path(os.readlink(link)) == home / ".local" / "share" / "fila" / "bin" / cmd
    version = subprocess.run([str(bindir / "fila-server"), "--version"], capture_output=True,
                             text=True, timeout=60, check=True)
    assert version.stdout.startswith("fila-server ")
    cli = subprocess.run([str(bindir / "fila"), "--help"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert cli.returncode == 0 and "queue" in cli.stdout
    assert "Installed fila-server" in done.stdout
    assert "Add " in done.stdout  # the temp bin dir is not on PATH: the script says so


def test_an_unknown_option_is_one_line_and_exit_1(tmp_path: Path) -> None:
    done = _run(["--frm", "x"], tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == "install.sh: unknown option: --frm (see --help)"
    assert not (tmp_path / ".local").exists()


def test_a_failed_install_says_so_and_links_nothing(tmp_path: Path) -> None:
    done = _run(["--from", str(tmp_path / "no-such-wheel.whl")], tmp_path)
    assert done.returncode == 1
    assert "pip could not install" in done.stderr
    assert not (tmp_path / ".local" / "bin").exists()
