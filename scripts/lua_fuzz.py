"""Run the Lua sandbox fuzzer (tests/server/test_lua_fuzz.py) for longer than CI does.

    python scripts/lua_fuzz.py --seconds 600

Generates hostile scripts with the same Hypothesis strategy as the test, runs them in a child
interpreter (restarted when it dies or hangs) and stops at the first script that hangs, aborts
the child or makes QueueHooks raise anything but HookError, printing the shrunk script.
Exit status 0 if nothing was found in the time given, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from server.test_lua_fuzz import Child, script_bodies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="how long to run")
    parser.add_argument("--liveness", type=float, default=20.0,
                        help="seconds a script may take before it counts as hung")
    args = parser.parse_args()
    child = Child()
    end = time.monotonic() + args.seconds
    examples = 0

    @settings(max_examples=500, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(script_bodies())
    def round_(body: str) -> None:
        nonlocal examples
        if time.monotonic() >= end:
            return  # out of time: let the remaining examples of this round pass at once
        examples += 1
        problems = child.run(body, args.liveness)
        assert not problems, f"{problems}\n--- script body ---\n{body}"

    rounds = 0
    try:
        while time.monotonic() < end:
            rounds += 1
            try:
                round_()
            except AssertionError as exc:
                print(f"FOUND after {examples} scripts:\n{exc}")
                return 1
            print(f"round {rounds}: {examples} scripts so far, no problem", flush=True)
    finally:
        child.close()
    print(f"done: {examples} scripts in {args.seconds:.0f} s, no problem")
    return 0


if __name__ == "__main__":
    sys.exit(main())
