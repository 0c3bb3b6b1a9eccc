"""What a new user meets first: `make test`'s system packages while another program holds
apt's lock."""
from __future__ import annotations

import fcntl
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from test.helpers import REPO

pytestmark = pytest.mark.slow
LOCK = Path("/var/lib/dpkg/lock-frontend")


@pytest.mark.skipif(os.geteuid() != 0, reason="make test runs as root; apt's lock needs it")
def test_system_deps_wait_for_the_dpkg_lock():
    held = threading.Event()

    def hold(seconds: float) -> None:  # as unattended-upgrades would: fcntl's write lock, apt's own kind
        with open(LOCK, "w") as handle:
            fcntl.lockf(handle, fcntl.LOCK_EX)
            held.set()
            time.sleep(seconds)

    holder = threading.Thread(target=hold, args=(5,))
    holder.start()
    held.wait(5)
    started = time.monotonic()
    # redis-server is installed already (the stream tests use it): apt takes the lock, finds
    # nothing to do, and exits 0 once it may.
    result = subprocess.run([str(REPO / "scripts" / "system-deps.sh")], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "SYSTEM_DEPS_ALSO": "redis-server", "APT_LOCK_TIMEOUT": "60"})
    waited = time.monotonic() - started
    holder.join()
    assert result.returncode == 0, result.stderr
    assert waited >= 3, f"apt did not wait for the lock ({waited:.1f} s): {result.stderr}"
