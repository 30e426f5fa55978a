"""The staff's pages in a real browser (Debian's Chromium, driven by Playwright) against a
real server serving real trained models: the form prices a house as the API does, a bad
value shows the API's message beside its field, the keyboard alone is enough, and both
pages read at a phone's width and a desktop's without console errors.

Screenshots land in `test-artifacts/` (or ESTIMATOR_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from estimator.predictor import Predictor
from estimator.registry import Registry, VersionInfo
from estimator.web.views import price
from tests.serving_support import TOKEN, running

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed (the dev extra has it)")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# No background traffic: the machine's network is closed and Chromium would keep trying.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("ESTIMATOR_TEST_ARTIFACTS",
                                Path(__file__).resolve().parent.parent / "test-artifacts"))
WIDTHS = (375, 1280)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/setup installs it as root)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def california(session_registry: Registry, california_gbm: VersionInfo) -> Iterator[httpx.Client]:
    with running(session_registry.root, california_gbm.ref) as client:
        yield client


@pytest.fixture(scope="module")
def boston(session_registry: Registry, boston_gbm: VersionInfo) -> Iterator[httpx.Client]:
    with running(session_registry.root, boston_gbm.ref, admin_token=TOKEN) as client:
        yield client


class Tab:
    """A browser tab that records console errors and uncaught exceptions."""

    def __init__(self, browser: Any, base: str, width: int = 1280) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.base = base
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error"
                     else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: str = "/") -> Any:
        self.page.goto(self.base + path)
        return self.page

    def field(self, name: str) -> Any:
        """The block of one feature: its label, input, help and error."""
        return self.page.locator(".field").filter(
            has=self.page.get_by_label(name, exact=True))

    def form_values(self) -> dict[str, str]:
        values: dict[str, str] = self.page.eval_on_selector_all(
            "form.house [name]", "els => Object.fromEntries(els.map(e => [e.name, e.value]))")
        return values

    def close(self) -> None:
        self.page.close()
        assert self.errors == [], f"the page logged errors: {self.errors}"


def _base(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def _house(predictor: Predictor, values: dict[str, str]) -> dict[str, Any]:
    """The JSON house the form's values describe: numbers as numbers, gaps left out."""
    house: dict[str, Any] = {}
    for f in predictor.schema.features:
        text = values[f.name]
        if text:
            house[f.name] = text if f.kind == "categorical" else float(text)
    return house


def _api(client: httpx.Client, house: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v2/predict", json={"instances": [house], "explain": True})
    assert response.status_code == 200, response.text
    estimate: dict[str, Any] = response.json()["predictions"][0]
    return estimate


def test_the_form_prices_a_house_with_a_gap_as_the_api_does(
        browser: Any, california: httpx.Client, california_gbm: VersionInfo) -> None:
    predictor = Predictor.load(california_gbm.path)
    tab = Tab(browser, _base(california))
    page = tab.open()
    for f in predictor.schema.features:  # every feature has exactly one labelled input
        assert page.get_by_label(f.name, exact=True).count() == 1, f.name
    assert "optional" in tab.field("total_bedrooms").inner_text()
    page.get_by_label("ocean_proximity", exact=True).select_option("INLAND")
    page.get_by_label("median_income", exact=True).fill("5.25")
    page.get_by_label("total_bedrooms", exact=True).fill("")  # a gap, imputed as in training
    values = tab.form_values()
    page.get_by_role("button", name="Estimate the price").click()
    card = page.locator("#result")
    card.wait_for()

    expected = _api(california, _house(predictor, values))
    unit = predictor.schema.target.unit
    assert unit == "$"
    assert page.get_by_test_id("price").inner_text() == price(expected["price"], unit)
    assert f"{price(expected['lower'], unit)} and {price(expected['upper'], unit)}" in \
        card.inner_text()
    gap = next(w for w in expected["warnings"] if w["field"] == "total_bedrooms")
    assert f"total_bedrooms: {gap['message']}" in card.locator(".warnings").inner_text()
    assert card.locator(".reasons li").count() == 5
    assert card.locator("table.comparables tbody tr").count() == 5
    top = max(expected["contributions"].items(), key=lambda kv: abs(kv[1]))
    assert card.locator(".reasons li").first.locator(".name").inner_text() == top[0]
    assert tab.form_values() == values  # the form keeps what was typed
    tab.close()


def test_a_bad_value_shows_the_api_message_beside_its_field(
        browser: Any, boston: httpx.Client, boston_gbm: VersionInfo) -> None:
    tab = Tab(browser, _base(boston))
    page = tab.open()
    page.get_by_label("RM", exact=True).fill("six")
    page.get_by_label("TAX", exact=True).fill("300")
    page.get_by_role("button", name="Estimate the price").click()
    error = tab.field("RM").locator(".error")
    error.wait_for()

    row = Predictor.load(boston_gbm.path).schema.example_row()
    refused = boston.post("/v2/predict", json={"instances": [{**row, "RM": "six"}]})
    assert refused.status_code == 422
    assert refused.json()["field"] == "RM"
    assert refused.json()["message"].endswith(error.inner_text())
    assert page.get_by_label("RM", exact=True).get_attribute("aria-invalid") == "true"
    assert page.locator("#result").count() == 0
    assert page.locator(".field .error").count() == 1
    assert page.get_by_label("RM", exact=True).input_value() == "six"  # nothing typed is lost
    assert page.get_by_label("TAX", exact=True).input_value() == "300"
    tab.close()


def test_the_keyboard_alone_fills_and_submits_the_form(
        browser: Any, boston: httpx.Client, boston_gbm: VersionInfo) -> None:
    predictor = Predictor.load(boston_gbm.path)
    tab = Tab(browser, _base(boston))
    page = tab.open()
    focused = []
    for _ in range(40):
        page.keyboard.press("Tab")
        name = page.evaluate("document.activeElement.name || document.activeElement.innerText")
        focused.append(name)
        if name == "LSTAT":
            page.keyboard.press("Control+A")
            page.keyboard.type("7.5")
        if name == "Estimate the price":
            break
    assert set(predictor.schema.names) <= set(focused), "every field takes the focus"
    assert focused[-1] == "Estimate the price"
    page.keyboard.press("Enter")
    page.locator("#result").wait_for()

    values = tab.form_values()
    assert values["LSTAT"] == "7.5"
    expected = _api(boston, _house(predictor, values))
    assert page.get_by_test_id("price").inner_text() == \
        price(expected["price"], predictor.schema.target.unit)
    tab.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_both_pages_read_at_phone_and_desktop_widths(
        browser: Any, boston: httpx.Client, width: int) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab = Tab(browser, _base(boston), width)
    page = tab.open()
    page.get_by_role("button", name="Estimate the price").click()
    page.locator("#result").wait_for()
    for name in ("estimate", "models"):
        if name == "models":
            page = tab.open("/models")
            assert page.get_by_role("heading", name="Alias history").is_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the {name} page scrolls sideways at {width} px"
        page.screenshot(path=str(ARTIFACTS / f"{name}-page-{width}.png"), full_page=True)
        for element in page.locator("img, script, link, iframe").all():
            source = element.get_attribute("src") or element.get_attribute("href") or ""
            assert not source.startswith(("http:", "https:", "//")), source
    tab.close()


def test_the_models_page_shows_versions_history_accuracy_and_drift(
        boston: httpx.Client, boston_gbm: VersionInfo, session_registry: Registry) -> None:
    row = Predictor.load(boston_gbm.path).schema.example_row()
    estimates = boston.post("/v2/predict", json={"instances": [row] * 3}).json()["predictions"]
    sold = [{"id": e["id"], "price": round(e["price"] * 1.1, 3), "sold_at": day}
            for e, day in zip(estimates, ["2026-10-15", "2026-11-20", "2026-11-21"],
                              strict=True)]
    stored = boston.post("/v1/feedback", json=sold, headers={"Authorization": f"Bearer {TOKEN}"})
    assert stored.status_code == 200, stored.text

    page = boston.get("/models")
    assert page.status_code == 200
    html = page.text
    assert boston_gbm.version in html
    for event in session_registry.history(boston_gbm.name):
        assert event["reason"] in html
    assert "3 estimates got a sale price: median error 9.1 %" in html
    assert 'aria-label="Median error by month of sale, from 2026-10 to 2026-11"' in html
    assert "Drift of the served version" in html and "estimates against the training data" in html


def test_without_a_model_the_pages_say_why(tmp_path: Path) -> None:
    with running(Registry(tmp_path / "empty").root, "nothing@production") as client:
        for path in ("/", "/models"):
            page = client.get(path)
            assert page.status_code == 503
            assert "No model is served yet" in page.text
