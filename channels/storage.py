"""Attachment bytes on the local disk, stored by their SHA-256 (the same file is kept once)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path


class FileAttachmentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError("not an attachment key")
        return self.root / key[:2] / key

    def _put(self, data: bytes, sha256: str) -> str:
        path = self._path(sha256)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a crash never leaves half a file under the final name.
            fd, tmp = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        return sha256

    async def put(self, data: bytes, sha256: str) -> str:
        return await asyncio.to_thread(self._put, data, sha256)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)
