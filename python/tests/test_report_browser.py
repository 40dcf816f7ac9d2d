"""The HTML brick atlas (`neurobricks report`), checked the way people use it: in a real
headless Chromium (the system's Debian `chromium` + `chromium-driver`, driven by Selenium).

The test reads the rendered DOM, not the HTML string: the page loads with no console error and
no network request, shows a dendrogram for every layer in the data folder, and clicking a leaf
opens that brick's card. It skips when Chromium is not installed (`scripts/setup-browser`
installs it; `scripts/test` calls that script), unless NEUROBRICKS_REQUIRE_BROWSER=1.

With NEUROBRICKS_SCREENSHOTS=<folder> it also saves the page at 1280 px wide (the shots in
docs/ are made this way by `scripts/screenshots`).
"""

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "minilm-l6"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _need_browser():
    if CHROMIUM and DRIVER:
        try:
            import selenium  # noqa: F401
        except ImportError:
            pass
        else:
            return
    msg = "headless Chromium + chromedriver + selenium not installed (run scripts/setup-browser)"
    if os.environ.get("NEUROBRICKS_REQUIRE_BROWSER") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


def _layers():
    return sorted(int(p.stem[len("layer"):]) for p in DATA.glob("layer*.safetensors"))


@pytest.fixture(scope="module")
def report(cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    cli("report", "--data", DATA, "--out", out)
    return out


@pytest.fixture(scope="module")
def browser():
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--hide-scrollbars", "--force-device-scale-factor=1"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)
    d.set_window_size(1280, 1000)
    yield d
    d.quit()


def test_report_in_headless_chromium(report, browser):
    from selenium.webdriver.common.by import By

    html = report.read_text(encoding="utf-8")
    # Self-contained: nothing to fetch.
    for bad in ("http://", "https://", "<link ", " src=\"//"):
        assert bad not in html, bad

    d = browser
    d.get(report.as_uri())
    assert d.title.startswith("Brick atlas")
    # No resource but the file itself and data: URLs.
    urls = d.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(u.startswith("data:") for u in urls), urls

    layers = _layers()
    assert layers, "no layer files in data/minilm-l6"
    trees = d.find_elements(By.CSS_SELECTOR, "section.layer svg.tree")
    assert len(trees) == len(layers)
    for n in layers:
        sec = d.find_element(By.ID, f"layer-{n}")
        leaves = sec.find_elements(By.CSS_SELECTOR, "svg.tree a.leaf")
        assert len(leaves) >= 2, n
        assert all(leaf.is_displayed() for leaf in leaves), n
        # The figures rendered (decoded images have a size).
        for img in sec.find_elements(By.CSS_SELECTOR, ".figures img"):
            assert d.execute_script("return arguments[0].naturalWidth", img) > 100
    # Readable at 1280 px: nothing wider than the window.
    assert d.execute_script("return document.documentElement.scrollWidth") <= 1280

    shots = os.environ.get("NEUROBRICKS_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        d.save_screenshot(str(Path(shots) / "report-top.png"))

    # Click a leaf of the last layer: its card appears, the others stay hidden.
    n = layers[-1]
    sec = d.find_element(By.ID, f"layer-{n}")
    d.execute_script("arguments[0].scrollIntoView({block: 'start'})", sec)
    leaves = sec.find_elements(By.CSS_SELECTOR, "svg.tree a.leaf")
    leaf = leaves[len(leaves) // 2]
    card_id = leaf.get_attribute("data-card")
    card = d.find_element(By.ID, card_id)
    assert not card.is_displayed()
    # (the leaf's hit area: the centre of the whole link may fall between its slanted label and
    # its swatch)
    leaf.find_element(By.CSS_SELECTOR, "rect.hit").click()
    assert card.is_displayed()
    brick = leaf.get_attribute("data-brick")
    assert f"brick {brick}" in card.find_element(By.TAG_NAME, "h3").text
    shown = [c for c in sec.find_elements(By.CSS_SELECTOR, ".card") if c.is_displayed()]
    assert shown == [card]
    assert "active" in leaf.get_attribute("class")
    if shots:
        d.save_screenshot(str(Path(shots) / "report-card.png"))
    # A second leaf replaces the card.
    other = leaves[0]
    other.find_element(By.CSS_SELECTOR, "rect.hit").click()
    assert d.find_element(By.ID, other.get_attribute("data-card")).is_displayed()
    assert not card.is_displayed()

    errors = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
    assert errors == [], errors
