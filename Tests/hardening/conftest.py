"""Shared set-up of the hardening suite: the e2e helpers (agentclient's generated messages and
ttrpc framing) are importable from here, so fuzzing and soak drive the agent like the VM tests."""

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
for path in (HERE, HERE.parent / "e2e"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
