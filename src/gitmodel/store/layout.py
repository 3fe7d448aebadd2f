"""Where objects live, in the cache and on every remote (the remote mirrors the cache):

    chunks/<2 hex>/<32 hex>      encoded chunks, named by the xxh3-128 of their raw bytes
    manifests/<2 hex>/<64 hex>   file versions, named by their sha256

The local cache puts these under `objects/`; a remote at its root. The 2-hex fan-out
keeps directories small (a 10 GB model is a few thousand chunks) and lets a push list
one prefix instead of asking for each name.
"""
from __future__ import annotations

CHUNKS = "chunks"
MANIFESTS = "manifests"


def key(kind: str, name: str) -> str:
    """The relative path of object NAME (already validated) of KIND."""
    return f"{kind}/{name[:2]}/{name}"
