"""The `fila` command-line interface."""

import os

# gRPC's C core logs resolver and TLS chatter straight to stderr; a CLI prints one
# "Error: ..." line instead. Set before anything imports grpc; an explicit setting wins.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
