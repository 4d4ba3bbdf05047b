"""scripts/sdk_suite.py end to end, on a stand-in for the SDK's repository.

The real SDK's code stays out of this repository, so the test builds a small git repo shaped
like it (``pyproject.toml`` with a ``dev`` extra, ``tests/`` whose conftest-less tests start
``$FILA_SERVER_BIN`` the way the SDK's harness does, a ``fila/`` that is not the published
one) and tags it ``v0.2.0``. The script must install the published ``fila-python`` 0.2.0 from
PyPI (skipped when PyPI is unreachable), import that and not the repo's ``fila/``, start our
server through its wrapper, count outcomes, and set its exit status from them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from e2e.server_process import SERVER_BIN

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "sdk_suite.py"

pytestmark = pytest.mark.timeout(600)

PYPROJECT = """\
[project]
name = "fila-python"
version = "0.2.0"
dependencies = ["grpcio>=1.60.0"]

[project.optional-dependencies]
dev = ["grpcio-tools>=1.60.0", "pytest>=8.0", "ruff>=0.3"]
"""

# Starts the server as the SDK's conftest does: no arguments, fila.toml in a temp working
# directory, FILA_DATA_DIR set, ready when ListQueues answers.
FAKE_TESTS = '''\
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import pytest

import fila
from fila.v1 import admin_pb2, admin_pb2_grpc


def test_against_server():
    assert Path(fila.__file__).resolve().is_relative_to(Path(sys.prefix).resolve())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        addr = f"127.0.0.1:{s.getsockname()[1]}"
    work = tempfile.mkdtemp(prefix="fake-sdk-")
    Path(work, "fila.toml").write_text(f'[server]\\nlisten_addr = "{addr}"\\n')
    proc = subprocess.Popen([os.environ["FILA_SERVER_BIN"]], cwd=work,
                            env={**os.environ, "FILA_DATA_DIR": os.path.join(work, "db")})
    try:
        deadline = time.monotonic() + 10
        while True:
            with grpc.insecure_channel(addr) as ch:
                try:
                    admin_pb2_grpc.FilaAdminStub(ch).CreateQueue(
                        admin_pb2.CreateQueueRequest(name="q", config=admin_pb2.QueueConfig()))
                    break
                except grpc.RpcError:
                    assert time.monotonic() < deadline, "server not ready"
                    time.sleep(0.05)
        with fila.Client(addr) as c:
            mid = c.enqueue("q", {"k": "v"}, b"x")
            stream = c.consume("q")
            assert next(stream).id == mid
    finally:
        proc.kill()
        proc.wait()


def test_fails():
    assert 1 == 2


def test_skipped():
    pytest.skip("stand-in skip")
'''


def make_fake_sdk(repo: Path) -> None:
    (repo / "tests").mkdir(parents=True)
    (repo / "fila").mkdir()
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / "tests" / "__init__.py").write_text("")
    (repo / "tests" / "test_fake.py").write_text(FAKE_TESTS)
    (repo / "fila" / "__init__.py").write_text("raise ImportError('the source, not the wheel')\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "fake sdk"], check=True)
    subprocess.run([*git, "tag", "v0.2.0"], check=True)


def run_script(repo: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the script (``--keep``: the scratch dir is checked, then removed)."""
    proc = subprocess.run([sys.executable, str(SCRIPT), str(repo), "--server-bin", SERVER_BIN,
                           "--keep", *extra], capture_output=True, text=True, timeout=540)
    if "sdk_suite: pip failed" in proc.stdout + proc.stderr:
        pytest.skip(f"pip could not install from PyPI:\n{proc.stderr[-800:]}")
    return proc


def kept_dir(proc: subprocess.CompletedProcess[str]) -> Path:
    kept = Path(proc.stdout.splitlines()[-1].removeprefix("sdk_suite: kept "))
    assert kept.name.startswith("fila-sdk-suite-") and kept.is_dir(), proc.stdout
    return kept


def test_counts_outcomes_and_runs_the_published_package(tmp_path: Path) -> None:
    repo = tmp_path / "fake-sdk"
    make_fake_sdk(repo)

    proc = run_script(repo)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "pip install fila-python==0.2.0 pytest>=8.0 cryptography" in out or (
        "pip install pytest>=8.0 cryptography" in out), out
    assert re.search(r"SDK tests from v0\.2\.0 = [0-9a-f]{40}", out), out
    assert "installed package differs from the ref's fila/: ['__init__.py'" in out, out
    assert re.search(r"PASSED +tests\.test_fake::test_against_server\n", out), out
    assert re.search(r"FAILED +tests\.test_fake::test_fails +-- assert 1 == 2", out), out
    assert re.search(r"SKIPPED +tests\.test_fake::test_skipped +-- stand-in skip", out), out
    assert out.splitlines()[-2] == "1 passed, 1 failed, 1 skipped", out
    kept = kept_dir(proc)
    logs = list((kept / "server-logs").glob("server-*.log"))
    assert len(logs) == 1 and "listening on 127.0.0.1:" in logs[0].read_text()
    assert not (kept / "fila").exists()
    shutil.rmtree(kept)

    for extra, status, summary in [
        (["--", "-k", "against_server"], 0, "1 passed, 0 failed, 0 skipped"),
        (["--allow-skips", "--", "-k", "against_server or skipped"], 0,
         "1 passed, 0 failed, 1 skipped"),
        (["--", "-k", "skipped"], 1, "0 passed, 0 failed, 1 skipped"),
        (["--", "-k", "no_such_test"], 1, "0 passed, 0 failed, 0 skipped"),
    ]:
        run = run_script(repo, *extra)
        assert run.returncode == status, run.stdout + run.stderr
        assert run.stdout.splitlines()[-2] == summary, run.stdout
        shutil.rmtree(kept_dir(run))


def test_stops_before_the_tests_without_leaving_a_scratch_dir(tmp_path: Path) -> None:
    repo = tmp_path / "fake-sdk"
    make_fake_sdk(repo)
    before = set(Path(tempfile.gettempdir()).glob("fila-sdk-suite-*"))
    proc = run_script(repo, "--ref", "v9.9.9")
    assert proc.returncode == 1
    assert "sdk_suite: no ref 'v9.9.9'" in proc.stderr
    assert set(Path(tempfile.gettempdir()).glob("fila-sdk-suite-*")) == before
