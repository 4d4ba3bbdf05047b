"""Cluster mode is opt-in and kept apart (checked on the source, with the import walk of
tests/test_architecture.py): outside fila/cluster only the process's start-up (which imports
the cluster side lazily, in cluster mode) and config validation (pure names) reach it, and
nothing outside fila/cluster imports NATS itself; its pure
parts (encoding, names, applied state, ownership assignment, the checker's history) reach
neither asyncio nor NATS,
so they are tested and reasoned about directly."""

from __future__ import annotations

from test_architecture import all_modules, chain_to, matches

PURE = ["fila.cluster.codec", "fila.cluster.names", "fila.cluster.applied", "fila.cluster.assign",
        "fila.cluster.history"]
FOREIGN = ["nats", "asyncio"]


# Importer outside fila/cluster -> the fila.cluster modules it may reach (and, through
# them, NATS). Everything else of the single-node broker, the client, CLI and TUI: none.
ALLOWED = {
    "fila.server.main": ["fila.cluster"],
    "fila.server.config": ["fila.cluster.names"],
}


def test_only_startup_reaches_cluster_mode() -> None:
    problems = []
    for name in all_modules():
        if matches(name, ["fila.cluster", "fila.v1"]):
            continue
        for target in ("fila.cluster", "nats"):
            chain = chain_to(name, target)
            if not chain:
                continue
            # The edge where the chain enters fila/cluster must be an allowed one.
            entry = next(i for i, mod in enumerate(chain) if matches(mod, ["fila.cluster", "nats"]))
            importer, imported = chain[entry - 1], chain[entry]
            if not matches(imported, ALLOWED.get(importer, [])):
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
