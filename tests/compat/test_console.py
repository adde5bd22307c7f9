"""The console in a real browser: headless Chromium (Debian's package) driven by Playwright opens
/console on a live `tailor serve` over the demo data, walks every page, runs the "try it" panel
and checks it shows exactly what the API answers for the same request, with no console errors
and no failed network requests. The offline report opens in the same browser with no network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from conftest import DEMO_FILTER, GROUP, PREFIX, SIMS, UP, new_id, put_views

SHOTS = Path(os.environ.get("TAILOR_SCREENSHOTS", "target/console-screenshots"))


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium is not installed (tests/run-all.sh installs Debian's chromium)")


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield b
        b.close()


class Watch:
    """A page that records console errors and failed requests."""

    def __init__(self, browser, base: str):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.method} {r.url}: {r.failure}"))
        self.page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        self.base = base

    def open(self, hash_: str):
        self.page.goto(f"{self.base}/console{hash_}")
        self.loaded(hash_)

    def loaded(self, hash_: str):
        self.page.wait_for_selector(f'#page[data-loaded="{hash_ or "#/"}"][aria-busy="false"]', timeout=30_000)
        assert not self.page.query_selector('[data-testid="page-error"]'), self.page.inner_text("#page")

    def shot(self, name: str):
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def clean(self):
        assert self.errors == [], self.errors
        assert self.failed == [], self.failed


def enc(arn: str) -> str:
    from urllib.parse import quote
    return quote(arn, safe="")


def test_every_page_renders_and_try_it_matches_the_api(server, runtime, events, browser):
    w = Watch(browser, server.url)
    group = f"{PREFIX}:dataset-group/{GROUP}"

    w.open("")
    w.shot("groups")
    assert w.page.locator('[data-testid="groups"] a', has_text=GROUP).count() == 1

    w.page.click(f'[data-testid="groups"] a:has-text("{GROUP}")')
    w.loaded(f"#/group/{enc(group)}")
    w.shot("group")
    for part in ("datasets", "solutions", "filters", "trackers", "import-jobs", "versions",
                 "metrics-chart", "dataset-stats", "interactions-histogram", "popular-items"):
        assert w.page.locator(f'[data-testid="{part}"]').count() >= 1, part
    stats = w.page.inner_text('[data-testid="dataset-stats"] >> nth=0')
    assert "rows" in stats and "users" in stats
    assert "http://" not in w.page.inner_text("#page"), "a link printed as text"
    # The browser's own timing of the first page.
    paint = w.page.evaluate(
        "performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint')?.startTime")
    print(f"console first contentful paint: {paint:.0f} ms")

    # Campaigns: the panel's answer is the API's answer for the same request.
    def try_it(campaign: str, fields: dict[str, str], filter_arn: str | None = None) -> list[str]:
        w.open(f"#/campaign/{enc(campaign)}")
        for name, value in fields.items():
            w.page.fill(f'[data-testid="{name}"]', value)
        if filter_arn:
            w.page.select_option('[data-testid="filterArn"]', filter_arn)
        w.page.click('[data-testid="ask"]')
        w.page.wait_for_selector('[data-testid="items"] [data-testid="item"]')
        return w.page.eval_on_selector_all('[data-testid="item"]', "els => els.map(e => e.dataset.itemId)")

    shown = try_it(UP, {"userId": "U0001", "numResults": "7"}, DEMO_FILTER)
    api = runtime.get_recommendations(campaignArn=UP, userId="U0001", numResults=7, filterArn=DEMO_FILTER)
    assert shown == [i["itemId"] for i in api["itemList"]]
    w.shot("campaign")
    # A related-items campaign asks for an item.
    shown = try_it(SIMS, {"itemId": "P00004"})
    api = runtime.get_recommendations(campaignArn=SIMS, itemId="P00004", numResults=10)
    assert shown == [i["itemId"] for i in api["itemList"]]
    w.shot("related")

    w.open(f"#/filter/{enc(DEMO_FILTER)}")
    w.page.fill('[data-testid="userId"]', "U0002")
    w.page.click('[data-testid="preview"]')
    w.page.wait_for_selector('[data-testid="passing"]')
    passing = w.page.eval_on_selector_all('[data-testid="passing"] [data-testid="item"]', "els => els.map(e => e.dataset.itemId)")
    campaign = w.page.input_value('[data-testid="campaign"]')
    api = runtime.get_recommendations(campaignArn=campaign, userId="U0002", numResults=100, filterArn=DEMO_FILTER)
    assert passing == [i["itemId"] for i in api["itemList"]]
    w.shot("filter")

    # The tracker's live tail shows an event put while the page is open.
    w.open(f"#/tracker/{enc(f'{PREFIX}:event-tracker/demo-tracker')}")
    user = new_id("tail")
    put_views(events, server, user, ["P00042"])
    w.page.wait_for_selector(f'[data-testid="event"]:has-text("{user}")', timeout=15_000)
    w.shot("tracker")
    w.clean()


def test_the_report_opens_offline(server, browser, tmp_path):
    """`tailor evaluate --report` writes one file that a browser with no network shows whole."""
    from conftest import run_cli, tailor_bin

    report = tmp_path / "report.html"
    sample = tmp_path / "sample"
    run_cli(tailor_bin(), tmp_path / "data", "sample", "--out", str(sample))
    recipes = ["aws-user-personalization", "aws-sims", "aws-popularity-count"]
    run_cli(tailor_bin(), tmp_path / "data", "evaluate", "--interactions",
            str(sample / "interactions.csv"), *[a for r in recipes for a in ("--recipe", r)],
            "--report", str(report))
    context = browser.new_context(offline=True)
    page = context.new_page()
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri())
    assert page.locator("#metrics tbody tr").count() == len(recipes)
    assert page.locator("#ndcg-curve polyline").count() == len(recipes)
    assert page.locator("#metric-bars rect").count() == 4 * len(recipes)
    assert page.locator("#coverage rect").count() == len(recipes)
    assert page.locator("#popularity-bias rect").count() == len(recipes)
    names = page.inner_text("#metrics")
    assert all(r in names for r in recipes), names
    assert requests == [report.as_uri()], requests
    assert errors == [], errors
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "report.png"), full_page=True)
    context.close()
