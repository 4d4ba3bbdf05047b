"""Run the RPC fuzz of tests/e2e/test_fuzz_rpc.py for longer, against a server it starts.

    python scripts/fuzz_rpc.py --seconds 600 [--shrink] [--family sequences,raw,lua]
                               [--examples 50] [--json fuzz.json]

Rounds of each family (RPC sequences, raw bytes, Lua return values), each round
``--examples`` new examples (generation only: the explicit examples of the test module,
failures already known, are skipped), until ``--seconds`` have passed. A failure does not
stop the run or the example: it is recorded under a key (RPC, status and details with numbers
folded; or the server's last log line when it died; or the exception it logged), with the
smallest example that produced it, and the server is restarted before the next example if
it died. Exit status 1 if anything failed. ``--shrink`` lets Hypothesis shrink too (rarely
useful here: failures are recorded, not raised).

To fuzz another build of the broker, put its ``fila-server`` first on PATH.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

import e2e.test_fuzz_rpc as fz  # noqa: E402
from e2e.server_process import ServerProcess  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def families(t: fz.Target) -> dict[str, tuple[dict[str, Any], Callable[..., None]]]:
    return {
        "sequences": ({"sequence": st.lists(fz.ops, min_size=1, max_size=8)},
                      lambda sequence: fz.run_ops(t, sequence)),
        "raw": ({"path": st.sampled_from(fz.UNARY_PATHS + fz.STREAM_PATHS),
                 "body": fz.raw_body},
                lambda path, body: fz.run_raw(t, path, body)),
        "lua": ({"enqueue_ret": fz.lua_return, "failure_ret": fz.lua_return,
                 "delay_ms": st.sampled_from([0, 0, 1, 2**32, 2**62])},
                lambda enqueue_ret, failure_ret, delay_ms:
                    fz.run_lua(t, enqueue_ret, failure_ret, delay_ms)),
    }


def make_test(target: fz.Target, family: str,
              body: Callable[..., None]) -> Callable[..., None]:
    def test(**kwargs: Any) -> None:
        target.current_example = f"{family}: " + ", ".join(
            f"{k}={v!r}" for k, v in kwargs.items())[:4000]
        target.run(lambda: body(**kwargs))
    return test


def signature(family: str, exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    first = re.sub(r"\d+", "N", first)
    first = re.sub(r"'[^']{40,}'|\"[^\"]{40,}\"", "<long>", first)
    return f"{family}: {type(exc).__name__}: {first[:160]}"


def flatten(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for sub in exc.exceptions:
            out.extend(flatten(sub))
        return out
    return [exc]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--examples", type=int, default=50, help="examples per family per round")
    ap.add_argument("--family", default="sequences,raw,lua")
    ap.add_argument("--shrink", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    workdir = Path(tempfile.mkdtemp(prefix="fuzz-rpc-"))
    server = ServerProcess(workdir).start()
    target = fz.Target(server)
    phases = [Phase.generate, Phase.shrink] if args.shrink else [Phase.generate]
    cfg = settings(max_examples=args.examples, deadline=None, phases=phases, database=None,
                   suppress_health_check=list(HealthCheck), print_blob=False)
    chosen = args.family.split(",")
    target.soft = True  # record every failure and go on
    errors: dict[str, dict[str, Any]] = {}  # anything that escaped the target (harness bugs)
    end = time.monotonic() + args.seconds
    rounds = 0
    try:
        while time.monotonic() < end:
            rounds += 1
            for name, (strategies, body) in families(target).items():
                if name not in chosen or time.monotonic() >= end:
                    continue
                before = set(target.failures)
                runner = cfg(given(**strategies)(make_test(target, name, body)))
                try:
                    runner()
                except Exception as exc:
                    for sub in flatten(exc):
                        key = signature(name, sub)
                        errors.setdefault(key, {"count": 0, "message": str(sub)[:3000]})
                        errors[key]["count"] += 1
                for key in set(target.failures) - before:
                    entry = target.failures[key]
                    print(f"\n=== NEW FAILURE: {key}\n{entry['message'][:1200]}\n"
                          f"example: {entry['example'][:1200]}", flush=True)
            print(f"round {rounds}: {time.monotonic() - end + args.seconds:.0f} s, "
                  f"{len(target.failures)} distinct failure(s), "
                  f"{len(target.crashes)} crash(es)", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        target.close()
        server.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{len(target.failures)} distinct failure(s) in {rounds} round(s):")
    for key, entry in sorted(target.failures.items()):
        print(f"  [{entry['count']}x] {key}\n      smallest example: {entry['example'][:600]}")
    for key, entry in errors.items():
        print(f"  harness error [{entry['count']}x] {key}")
    if args.json:
        args.json.write_text(json.dumps({"failures": target.failures, "errors": errors,
                                         "crashes": target.crashes}, indent=2) + "\n")
    return 1 if target.failures or errors else 0


if __name__ == "__main__":
    sys.exit(main())
