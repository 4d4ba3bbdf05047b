"""Regenerate fila/v1 from proto/fila/v1 (run: python scripts/gen_proto.py).

grpc_tools emits absolute imports (``from fila.v1 import messages_pb2``), which
is what we want since the generated package lives at ``fila.v1``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ["messages.proto", "service.proto", "admin.proto"]


def generate(out: Path) -> None:
    """Write *_pb2.py, *_pb2.pyi and *_pb2_grpc.py for every proto into out/fila/v1."""
    out.mkdir(parents=True, exist_ok=True)
    for name in PROTOS:
        args = [
            "protoc",
            f"-I{ROOT / 'proto'}",
            f"-I{Path(grpc_tools.__file__).parent / '_proto'}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            str(ROOT / "proto" / "fila" / "v1" / name),
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed on {name}")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
