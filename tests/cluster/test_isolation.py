"""Cluster mode is opt-in and kept apart (checked on the source, with the import walk of
tests/test_architecture.py): nothing outside fila/cluster reaches it or NATS, and its pure
parts (encoding, names, applied state, ownership assignment) reach neither asyncio nor NATS,
so they are tested and reasoned about directly."""

from __future__ import annotations

from test_architecture import all_modules, chain_to, matches

PURE = ["fila.cluster.codec", "fila.cluster.names", "fila.cluster.applied", "fila.cluster.assign"]
FOREIGN = ["nats", "asyncio"]


def test_nothing_outside_cluster_reaches_it_or_nats() -> None:
    problems = []
    for name in all_modules():
        if matches(name, ["fila.cluster", "fila.v1"]):
            continue
        for target in ("fila.cluster", "nats"):
            chain = chain_to(name, target)
            if chain:
                problems.append(" -> ".join(chain))
    assert not problems, "\n".join(problems)


def test_pure_parts_reach_no_io() -> None:
    problems = []
    for name in PURE:
        for target in FOREIGN:
            chain = chain_to(name, target)
            if chain:
                problems.append(" -> ".join(chain))
    assert not problems, "\n".join(problems)
