"""Run the published ``fila-python`` SDK's own test suite against this broker.

    python scripts/sdk_suite.py SDK_CHECKOUT [--ref v0.2.0] [--sdk-version 0.2.0]
                                [--server-bin PATH] [--venv DIR] [--junit FILE]
                                [--allow-skips] [--keep] [-- PYTEST_ARGS...]

``SDK_CHECKOUT`` is a clone of the SDK's repository (a work tree or a bare git dir; CI and
this script never fetch it). From ``--ref`` (default the release tag ``v0.2.0``) only
``tests/`` and ``pyproject.toml`` are taken, into a scratch dir that has no ``fila/``, so the
tests import the package pip installed and not the SDK's source. A plain directory that is
not a git repository is copied as it is (``--ref`` is then ignored).

A separate venv (never the project's: the SDK's top-level package is also called ``fila``)
gets ``fila-python==VERSION`` from PyPI, VERSION being the one in the ref's pyproject unless
``--sdk-version`` says otherwise; the ``pytest*`` entries of the SDK's ``dev`` extra; and
``cryptography``, which the SDK's conftest needs for its TLS fixtures (it skips them without
it, and does not list it). The venv is cached under the system temp dir, keyed by version
and Python version. When the ref has ``fila/``, the installed package is compared file by
file with it, so the summary says whether the tests ran against that very code.

The SDK's conftest starts the server itself: no arguments, a temp working directory holding
``fila.toml``, ``FILA_DATA_DIR`` set, output discarded. ``FILA_SERVER_BIN`` points it at a
small wrapper that execs ``--server-bin`` (default: the ``fila-server`` beside this Python,
else the one on PATH) with its output appended to a log, whose tail is printed for failures.

Prints one line per test and a closing ``N passed, M failed, K skipped`` line. Exit status
0 only when nothing failed or errored, at least one test ran, and nothing was skipped
(``--allow-skips`` lifts the last rule); the scratch dir is removed then (``--keep`` keeps
it), and kept otherwise. Network: PyPI only, through pip.
"""

from __future__ import annotations

import argparse
import filecmp
import io
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "fila-python"
DEFAULT_REF = "v0.2.0"
PIP_TIMEOUT_S = 300
PYTEST_TIMEOUT_S = 900
CLEAN_ENV_DROP = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONUSERBASE"}


@dataclass
class Outcome:
    name: str
    result: str  # passed, failed, error, skipped
    detail: str


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in CLEAN_ENV_DROP}


def git(checkout: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, timeout=120)


def is_git(checkout: Path) -> bool:
    return git(checkout, "rev-parse", "--git-dir").returncode == 0


def extract(checkout: Path, ref: str, paths: list[str], dest: Path) -> list[str]:
    """Extract ``paths`` (those that exist at ``ref``) into ``dest``; returns the ones found."""
    listed = git(checkout, "ls-tree", "--name-only", ref, *paths)
    if listed.returncode != 0:
        sys.exit(f"sdk_suite: no ref {ref!r} in {checkout}: {listed.stderr.decode().strip()}")
    found = listed.stdout.decode().split()
    if not found:
        return []
    archive = git(checkout, "archive", "--format=tar", ref, *found)
    if archive.returncode != 0:
        sys.exit(f"sdk_suite: git archive failed: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # Python before 3.11.4; the archive comes from the user's own clone
            tar.extractall(dest)
    return found


def sdk_test_requirements(pyproject: dict[str, object]) -> list[str]:
    """The pytest entries of the SDK's ``dev`` extra, plus ``cryptography`` for its TLS tests."""
    project = pyproject.get("project")
    extras = project.get("optional-dependencies", {}) if isinstance(project, dict) else {}
    dev = extras.get("dev", []) if isinstance(extras, dict) else []
    reqs, names = [], set()
    for req in map(str, dev):
        name = re.split(r"[^A-Za-z0-9._-]", req.strip(), maxsplit=1)[0].lower()
        if name.startswith("pytest"):
            reqs.append(req)
            names.add(name)
    if "pytest" not in names:
        reqs.insert(0, "pytest")
    return [*reqs, "cryptography"]


def installed_version(python: Path) -> str:
    if not python.exists():
        return ""
    probe = subprocess.run(
        [str(python), "-I", "-c",
         f"import importlib.metadata as m; print(m.version({PACKAGE!r})); import pytest"],
        capture_output=True, text=True, timeout=60, env=clean_env())
    return probe.stdout.strip() if probe.returncode == 0 else ""


def build_venv(venv: Path, version: str, reqs: list[str]) -> Path:
    python = venv / "bin" / "python"
    if installed_version(python) == version:
        # Top up the test requirements (cheap when already there).
        pip_install(python, reqs)
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=venv.name + ".build-", dir=venv.parent))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(scratch)], check=True, timeout=120,
                       env=clean_env())
        pip_install(scratch / "bin" / "python", [f"{PACKAGE}=={version}", *reqs])
        shutil.rmtree(venv, ignore_errors=True)
        scratch.rename(venv)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if installed_version(python) != version:
        sys.exit(f"sdk_suite: {venv} does not hold {PACKAGE}=={version}")
    return python


def pip_install(python: Path, reqs: list[str]) -> None:
    print(f"sdk_suite: pip install {' '.join(reqs)}", flush=True)
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *reqs],
        capture_output=True, text=True, timeout=PIP_TIMEOUT_S, env=clean_env())
    if pip.returncode != 0:
        sys.exit(f"sdk_suite: pip failed:\n{(pip.stderr or pip.stdout).strip()[-2000:]}")


def package_dir(python: Path, workdir: Path) -> Path:
    """Where ``import fila`` resolves with the test dir first on sys.path, as under pytest."""
    probe = subprocess.run(
        [str(python), "-I", "-c",
         f"import sys; sys.path.insert(0, {str(workdir)!r}); import fila; print(fila.__file__)"],
        capture_output=True, text=True, timeout=60, env=clean_env(), cwd=workdir)
    if probe.returncode != 0:
        sys.exit(f"sdk_suite: cannot import fila in the SDK venv:\n{probe.stderr}")
    return Path(probe.stdout.strip()).resolve().parent


def differing_files(source: Path, installed: Path) -> list[str]:
    """Relative paths of .py/.pyi files that differ between ``source`` and ``installed``."""
    differ = []
    for path in sorted(source.rglob("*")):
        if path.suffix not in (".py", ".pyi") or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(source)
        other = installed / rel
        if not other.is_file() or not filecmp.cmp(path, other, shallow=False):
            differ.append(str(rel))
    for path in sorted(installed.rglob("*.py")):
        rel = path.relative_to(installed)
        if "__pycache__" not in path.parts and not (source / rel).exists():
            differ.append(f"{rel} (only installed)")
    return differ


def server_wrapper(workdir: Path, server_bin: Path, logdir: Path) -> Path:
    """A FILA_SERVER_BIN that execs ours (same pid, so the conftest's kill reaches it)."""
    wrapper = workdir / "fila-server-wrapper"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'exec "{server_bin}" "$@" >>"{logdir}/server-$$.log" 2>&1\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return wrapper


def outcomes(junit: Path) -> list[Outcome]:
    out = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        result, detail = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                result = "failed" if tag == "failure" else tag
                lines = (node.get("message") or node.text or "").strip().splitlines()
                detail = lines[0] if lines else ""
                break
        out.append(Outcome(name, result, detail))
    return out


def default_server_bin() -> Path:
    beside = Path(sys.executable).parent / "fila-server"
    if beside.exists():
        return beside
    found = shutil.which("fila-server")
    if not found:
        sys.exit("sdk_suite: no fila-server beside this Python nor on PATH; use --server-bin")
    return Path(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="clone of the SDK's repository")
    parser.add_argument("--ref", default=DEFAULT_REF, help="tag or commit (default %(default)s)")
    parser.add_argument("--sdk-version", help="fila-python version to install "
                        "(default: the one in the ref's pyproject.toml)")
    parser.add_argument("--server-bin", type=Path, help="the fila-server to test")
    parser.add_argument("--venv", type=Path, help="venv for the SDK (default: cached in temp)")
    parser.add_argument("--junit", type=Path, help="also keep pytest's JUnit XML here")
    parser.add_argument("--allow-skips", action="store_true", help="skips do not fail the run")
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch dir (tests, server logs) after a clean run")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    pytest_args = argv[cut + 1:]  # after --: passed to pytest as they are

    workdir = Path(tempfile.mkdtemp(prefix="fila-sdk-suite-"))
    try:
        return suite(args, pytest_args, workdir)
    except (SystemExit, KeyboardInterrupt, subprocess.CalledProcessError):
        shutil.rmtree(workdir, ignore_errors=True)  # stopped before the tests: nothing to keep
        raise


def suite(args: argparse.Namespace, pytest_args: list[str], workdir: Path) -> int:
    """Extract, install, run and summarise in ``workdir``; returns the exit status."""
    checkout = args.checkout.resolve()
    server_bin = (args.server_bin or default_server_bin()).resolve()
    if not os.access(server_bin, os.X_OK):
        sys.exit(f"sdk_suite: {server_bin} is not executable")

    logdir = workdir / "server-logs"
    logdir.mkdir()
    source_pkg = workdir / "sdk-source"
    source_pkg.mkdir()
    if is_git(checkout):
        commit = git(checkout, "rev-parse", f"{args.ref}^{{commit}}")
        if commit.returncode != 0:
            sys.exit(f"sdk_suite: no ref {args.ref!r} in {checkout}")
        described = f"{args.ref} = {commit.stdout.decode().strip()}"
        if not extract(checkout, args.ref, ["tests", "pyproject.toml"], workdir):
            sys.exit(f"sdk_suite: {args.ref} has no tests/")
        has_source = bool(extract(checkout, args.ref, ["fila"], source_pkg))
    else:
        described = f"directory {checkout} (not a git repository: --ref ignored)"
        shutil.copytree(checkout / "tests", workdir / "tests")
        shutil.copy2(checkout / "pyproject.toml", workdir / "pyproject.toml")
        has_source = (checkout / "fila").is_dir()
        if has_source:
            shutil.copytree(checkout / "fila", source_pkg / "fila")
    assert not (workdir / "fila").exists()

    pyproject = tomllib.loads((workdir / "pyproject.toml").read_text())
    ref_version = str(pyproject.get("project", {}).get("version", ""))
    version = args.sdk_version or ref_version
    if not version:
        sys.exit("sdk_suite: no version in the ref's pyproject.toml; pass --sdk-version")
    reqs = sdk_test_requirements(pyproject)
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    venv = args.venv or Path(tempfile.gettempdir()) / f"fila-sdk-suite-{PACKAGE}-{version}-{tag}"
    python = build_venv(venv.resolve(), version, reqs)

    installed = package_dir(python, workdir)
    if not installed.is_relative_to(venv.resolve()):
        sys.exit(f"sdk_suite: fila resolves to {installed}, outside the SDK venv")
    print(f"sdk_suite: SDK tests from {described} (pyproject version {ref_version or '?'})")
    print(f"sdk_suite: {PACKAGE} {version} installed at {installed}")
    if ref_version and ref_version != version:
        print(f"sdk_suite: WARNING: the tests are from {ref_version}, the package is {version}")
    if has_source:
        differ = differing_files(source_pkg / "fila", installed)
        print("sdk_suite: installed package is identical to the ref's fila/" if not differ
              else f"sdk_suite: installed package differs from the ref's fila/: {differ}")
    print(f"sdk_suite: server {server_bin}; logs in {logdir}", flush=True)

    junit = args.junit.resolve() if args.junit else workdir / "junit.xml"
    env = {**clean_env(), "FILA_SERVER_BIN": str(server_wrapper(workdir, server_bin, logdir))}
    cmd = [str(python), "-I", "-m", "pytest", "tests", "-p", "no:cacheprovider", "-rA", "-q",
           f"--junitxml={junit}", *pytest_args]
    print(f"sdk_suite: cd {workdir} && FILA_SERVER_BIN={env['FILA_SERVER_BIN']} "
          f"{' '.join(cmd)}", flush=True)
    try:
        run = subprocess.run(cmd, cwd=workdir, env=env, timeout=PYTEST_TIMEOUT_S,
                             capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        print(f"sdk_suite: pytest did not finish within {PYTEST_TIMEOUT_S} s; kept {workdir}")
        return 1
    if not junit.exists():
        print(run.stdout[-5000:], run.stderr[-5000:], sep="\n")
        print(f"sdk_suite: pytest wrote no report (exit {run.returncode}); kept {workdir}")
        return 1

    results = outcomes(junit)
    counts = {k: sum(o.result == k for o in results)
              for k in ("passed", "failed", "error", "skipped")}
    for o in results:
        print(f"  {o.result.upper():8} {o.name}" + (f"  -- {o.detail}" if o.detail else ""))
    if counts["failed"] or counts["error"]:
        print(run.stdout[-8000:])
        for log in sorted(logdir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-15:]
            print(f"--- {log.name} (last {len(tail)} lines)", *tail, sep="\n")
    line = f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    print(line + (f", {counts['error']} errors" if counts["error"] else ""))
    bad = counts["failed"] or counts["error"] or not results
    status = 1 if bad or (counts["skipped"] and not args.allow_skips) else 0
    if status == 0 and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"sdk_suite: kept {workdir}")
    return status


if __name__ == "__main__":
    sys.exit(main())
