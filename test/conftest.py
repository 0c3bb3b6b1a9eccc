"""Session fixtures: the kmeans example built once, for every test that serves it."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from test.helpers import REPO, free_port, nbs2i


@pytest.fixture(scope="session")
def kmeans_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kmeans") / "out"
    result = nbs2i("build", str(REPO / "examples" / "kmeans"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture()
def redis_url(tmp_path):
    """A real redis-server on a loopback port: (its URL, a client)."""
    assert shutil.which("redis-server"), "make test installs redis-server"
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0", client
    proc.terminate()
    proc.wait()


@pytest.fixture()
def browser():
    """A headless chromium driven by selenium (the page tests)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    assert shutil.which("chromium") and shutil.which("chromedriver"), "make test installs chromium (scripts/system-deps.sh)"
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    profile = tempfile.mkdtemp(prefix="nbs2i-chromium-")
    # Flags from this machine's notes: root needs --no-sandbox; the closed network needs the
    # background-networking ones, or chromium keeps dialing out.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


REPORT: list[str] = []


@pytest.fixture(scope="session")
def report():
    """Lines printed at the end of the run (image sizes, build times): figures, not assertions."""
    return REPORT


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("nbs2i report")
        for line in REPORT:
            terminalreporter.write_line(line)
