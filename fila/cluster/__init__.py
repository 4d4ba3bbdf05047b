"""Cluster mode on NATS JetStream (opt-in with ``[cluster]`` in the config; docs/cluster.md).

Nothing here is imported by the single-node server: fila.server.main imports it lazily, only
when ``[cluster]`` is set. The pure modules (encoding, assignment)
need only the standard library; the rest needs the optional ``cluster`` extra
(``pip install 'fila-broker[cluster]'``: nats-py and the nats-server binary).
"""
