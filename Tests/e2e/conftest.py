"""Shared fixtures: the cached kernel, a per-session work directory, guest teardown."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import kernel as kernel_mod  # noqa: E402


def pytest_configure(config):
    if os.geteuid() != 0:
        # The harness builds device nodes into initrds and the agent tests need QEMU as root.
        pass


@pytest.fixture(scope="session")
def kernel():
    """The kernel VM tests boot: the kata kernel, or KATA_E2E_KERNEL=debian (kernel.py)."""
    return kernel_mod.fetch()


@pytest.fixture(scope="session")
def debian_kernel():
    """Debian's cloud kernel, for the tests of the module-loading path."""
    return kernel_mod.fetch_debian()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("e2e")


def require_root(why: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"needs root: {why}")
