"""A small QMP client (QEMU's JSON monitor) for the hot-plug tests: blockdev-add, device_add,
block_resize. Every read has a deadline; events QEMU sends unasked are kept aside."""

from __future__ import annotations

import json
import pathlib
import socket
import time
from typing import Any


class QMPError(RuntimeError):
    pass


class QMP:
    def __init__(self, path: pathlib.Path, timeout: float = 30):
        self.path = path
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._buffer = b""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.connect(str(path))
                break
            except OSError:
                self._sock.close()
                if time.monotonic() > deadline:
                    raise QMPError(f"QMP socket {path} did not accept within {timeout} s") from None
                time.sleep(0.05)
        self._sock.settimeout(timeout)
        greeting = self._message()
        if "QMP" not in greeting:
            raise QMPError(f"not a QMP greeting: {greeting}")
        self.execute("qmp_capabilities")

    def _message(self) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise QMPError("QMP connection closed")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command: str, **arguments: Any) -> Any:
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self._sock.sendall(json.dumps(request).encode() + b"\n")
        while True:
            reply = self._message()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise QMPError(f"{command} {arguments}: {reply['error']}")
            return reply.get("return")

    def add_raw_disk(self, node: str, image: pathlib.Path, read_only: bool = False) -> None:
        self.execute("blockdev-add", **{"node-name": node, "driver": "raw", "read-only": read_only,
                                        "file": {"driver": "file", "filename": str(image)}})

    def close(self) -> None:
        self._sock.close()
