"""The page at / in a real headless chromium: the form is prefilled, submits, shows the answer;
with an API token, the page shows nothing of the model until it is given the token."""
from __future__ import annotations

import json

import pytest

from test.helpers import Service

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_page_submits_the_example_and_shows_the_prediction(kmeans_out, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with Service(kmeans_out, workers=1) as svc:
        browser.get(svc.url + "/")
        wait = WebDriverWait(browser, 20)
        assert browser.find_element(By.ID, "model-name").text == "kmeans"
        wait.until(ec.text_to_be_present_in_element((By.ID, "metadata"), "build_id"))
        assert json.loads(browser.find_element(By.ID, "sample").get_property("value")) == [0.5, 0.5]
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


def test_page_shows_the_figures_form_history_and_metrics(kmeans_out, browser, tmp_path):
    """The kmeans notebook drew its clusters during the build: the page shows that figure (the
    test looks at the screenshot's pixels where it is), a form made from the example's shape,
    the answers it got, the service's own metrics and the links."""
    import io

    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with Service(kmeans_out, workers=1) as svc:
        browser.set_window_size(1400, 1600)
        browser.get(svc.url + "/")
        wait = WebDriverWait(browser, 20)
        figure = browser.find_element(By.CSS_SELECTOR, "#figures img")
        wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", figure))
        assert figure.get_attribute("alt").startswith("figure from cell")
        # the form from the example's shape [x, y]: two number fields that write the JSON box
        fields = browser.find_elements(By.CSS_SELECTOR, "#fields input")
        assert [f.get_attribute("type") for f in fields] == ["number", "number"]
        for field, value in zip(fields, ("0.9", "0.1")):
            field.clear()
            field.send_keys(value)
        assert json.loads(browser.find_element(By.ID, "sample").get_property("value")) == [0.9, 0.1]
        browser.find_element(By.ID, "submit").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history tbody tr")) == 1)
        row = browser.find_element(By.CSS_SELECTOR, "#history tbody tr").text
        assert "[0.9,0.1]" in row and "200" in row
        wait.until(lambda d: "/predict requests\n1" in d.find_element(By.ID, "service-metrics").text)
        assert "mean latency" in browser.find_element(By.ID, "service-metrics").text
        assert browser.find_element(By.ID, "notebook-link").get_attribute("href").endswith("/notebook.ipynb")
        # the screenshot, where the figure is: a drawn plot, not a blank or broken image
        shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
        (tmp_path / "page.png").write_bytes(browser.get_screenshot_as_png())
        ratio = browser.execute_script("return window.devicePixelRatio") or 1
        rect = figure.rect
        box = tuple(int(v * ratio) for v in (rect["x"], rect["y"], rect["x"] + rect["width"], rect["y"] + rect["height"]))
        region = shot.crop(box)
        raw = region.tobytes()  # RGB, 3 bytes a pixel
        pixels = [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]
        assert region.width > 200 and region.height > 150, rect
        inked = sum(1 for p in pixels if sum(p) < 600) / len(pixels)
        colours = {tuple(v // 32 for v in p) for p in pixels}
        assert 0.02 < inked < 0.9 and len(colours) > 8, (inked, len(colours))  # points, axes, coloured clusters


def test_with_a_token_the_page_shows_the_model_only_to_who_has_it(kmeans_out, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with Service(kmeans_out, workers=1, NBS2I_API_TOKEN="s3cret") as svc:
        browser.get(svc.url + "/")
        wait = WebDriverWait(browser, 20)
        wait.until(ec.text_to_be_present_in_element((By.ID, "token-status"), "Send 'Authorization: Bearer <token>'"))
        # without the token: no figure, no example, no build record
        assert browser.find_elements(By.CSS_SELECTOR, "#figures img") == []
        assert browser.find_element(By.ID, "sample").get_property("value") == ""
        assert "build_id" not in browser.find_element(By.ID, "metadata").text
        browser.find_element(By.ID, "token").send_keys("s3cret")
        browser.find_element(By.ID, "token-submit").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "metadata"), "build_id"))
        assert browser.find_elements(By.CSS_SELECTOR, "#figures img")
        assert json.loads(browser.find_element(By.ID, "sample").get_property("value")) == [0.5, 0.5]
        browser.find_element(By.ID, "submit").click()  # the page sends the token with the prediction too
        wait.until(lambda d: d.find_element(By.ID, "answer").text.strip().startswith("["))
        browser.refresh()  # the token is kept for the tab's session
        wait.until(ec.text_to_be_present_in_element((By.ID, "metadata"), "build_id"))
