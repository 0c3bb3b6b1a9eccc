"""The page at / in a real headless chromium: the form is prefilled, submits, shows the answer."""
from __future__ import annotations

import json
import shutil
import tempfile

import pytest

from test.helpers import Service

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture()
def browser():
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


def test_page_submits_the_example_and_shows_the_prediction(kmeans_out, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with Service(kmeans_out, workers=1) as svc:
        browser.get(svc.url + "/")
        wait = WebDriverWait(browser, 20)
        assert browser.find_element(By.ID, "model-name").text == "kmeans"
        assert json.loads(browser.find_element(By.ID, "sample").get_property("value")) == [0.5, 0.5]
        wait.until(ec.text_to_be_present_in_element((By.ID, "metadata"), "build_id"))
        browser.find_element(By.ID, "submit").click()
        wait.until(lambda d: d.find_element(By.ID, "answer").text.strip().startswith("["))
        answer = json.loads(browser.find_element(By.ID, "answer").text)
        assert len(answer) == 2 and all(0 <= v <= 1 for v in answer)
        # a rejected sample shows the service's error
        box = browser.find_element(By.ID, "sample")
        box.clear()
        box.send_keys("[1]")
        browser.find_element(By.ID, "submit").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "answer"), "422"))
        assert "[1] is too short" in browser.find_element(By.ID, "answer").text  # the example's shape
        browser.save_screenshot(str(tmp_path / "page.png"))
