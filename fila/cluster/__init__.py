"""Cluster mode on NATS JetStream (in progress, not wired into fila-server; docs/cluster.md).

Nothing here is imported by the single-node server. The pure modules (encoding, assignment)
need only the standard library; the rest needs the optional ``cluster`` extra
(``pip install 'fila-broker[cluster]'``: nats-py and the nats-server binary).
"""
