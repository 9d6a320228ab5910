"""The dashboard and /docs in headless Chromium: the charts draw the numbers the API returns, offline.

Numbers are read back from the rendered page: table cells as text, and each bar
or point as the value at its drawn pixel on the chart's axis. Any request that
leaves the service fails the test. Screenshots go to test-artifacts/.
"""

import shutil
import time
from urllib.parse import urlsplit

import pytest

from loader.couchdb.couch import Couch
from loader.tuning.tuned import RecommendSettings, store
from tests.conftest import seeded_shop
from tests.servers import REPO_DIR

CHROMIUM = shutil.which("chromium")
ARTIFACTS = REPO_DIR / "test-artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = [pytest.mark.slow,  # a browser: `bash scripts/test --all` and CI run it
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed: bash scripts/setup --browser")]

@pytest.fixture(scope="module")
def seeded_service(couchdb_url, tmp_path_factory):
    """A generated shop of this module's own: other modules write logs into the session's, stamped now, and
    the dashboard's windows end on the newest event's day (a run that had them first saw one item in "the
    last 7 days")."""
    with seeded_shop(couchdb_url, tmp_path_factory.mktemp("dashboard")) as live:
        yield live


# What each dataset of a chart shows: its label and, per point, the value at the pixel it is drawn at.
DRAWN = """(id) => {
  const chart = Chart.getChart(id);
  const horizontal = chart.options.indexAxis === "y";
  const scale = horizontal ? chart.scales.x : chart.scales.y;
  return {
    labels: chart.data.labels,
    datasets: chart.data.datasets.map((dataset, index) => ({
      label: dataset.label,
      drawn: chart.getDatasetMeta(index).data.map(
        (element) => scale.getValueForPixel(horizontal ? element.x : element.y)),
    })),
  };
}"""


@pytest.fixture(scope="module")
def browser_page(seeded_service, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        page = browser.new_page()
        page.outside_requests = []
        page.console_errors = []
        own_host = urlsplit(seeded_service.url).netloc

        def only_the_service(route):
            if urlsplit(route.request.url).netloc == own_host:
                route.continue_()
            else:
                page.outside_requests.append(route.request.url)
                route.abort()

        page.route("**/*", only_the_service)
        page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        yield page
        browser.close()


@pytest.fixture(scope="module")
def dashboard(browser_page, seeded_service):
    started = time.perf_counter()
    browser_page.goto(seeded_service.url + "/")
    browser_page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    # A figure to read, not a test: speed targets live in the benchmarks (bench/pagetimes.py).
    print(f"\ndashboard first paint (every panel's data drawn): "
          f"{time.perf_counter() - started:.2f} s")
    return browser_page


def drawn(page, canvas_id: str) -> dict:
    return page.evaluate(DRAWN, canvas_id)


def dataset(chart: dict, label: str) -> list[float]:
    return next(d["drawn"] for d in chart["datasets"] if d["label"] == label)


def wait_for_redraw(page, section: str, action) -> None:
    """Do `action`, then wait until `section` has drawn the answer to its newest request."""
    before = int(page.get_attribute(f"#{section}", "data-loaded") or 0)
    action()
    page.wait_for_function(
        "([id, n]) => { const s = document.getElementById(id); return Number(s.dataset.loaded) > n && s.dataset.busy === 'false'; }",
        arg=[section, before], timeout=60_000)


def test_page_type_bars_and_table_show_the_api_numbers(dashboard, seeded_service):
    groups = seeded_service.get("/stats/page-times", params={"by": "page_type"}).json()["groups"]
    assert len(groups) >= 3
    chart = drawn(dashboard, "page-types-chart")
    assert chart["labels"] == [g["page_type"] for g in groups]
    assert dataset(chart, "avg ms") == pytest.approx([g["avg"] for g in groups], rel=1e-9)
    assert dataset(chart, "p95 ms") == pytest.approx([g["p95"] for g in groups], rel=1e-9)
    product = next(g for g in groups if g["page_type"] == "product")
    row = dashboard.locator("#page-types-table tr[data-page-type=product]")
    assert row.locator("td.avg").inner_text() == f"{product['avg']:.1f}"
    assert row.locator("td.p95").inner_text() == f"{product['p95']:.1f}"
    assert row.locator("td.count").inner_text() == str(product["count"])


def test_over_time_lines_follow_the_date_range_and_grouping(dashboard, seeded_service):
    form = dashboard.locator("#over-time-form")
    page_type = form.locator("select[name=page_type]").input_value()
    start, end = form.locator("input[name=from]").input_value(), form.locator("input[name=to]").input_value()
    days = seeded_service.get("/stats/page-times", params={"by": "day", "page_type": page_type,
                                                           "from": start, "to": end}).json()["groups"]
    assert len(days) >= 5, "the range picker starts at the first and last day with data"
    chart = drawn(dashboard, "over-time-chart")
    assert chart["labels"] == [g["day"] for g in days]
    assert dataset(chart, "p50 ms") == pytest.approx([g["p50"] for g in days], rel=1e-9)
    assert dataset(chart, "p95 ms") == pytest.approx([g["p95"] for g in days], rel=1e-9)

    one_day = days[len(days) // 2]["day"]

    def per_hour_of_one_day():
        form.locator("select[name=page_type]").select_option("product")
        form.locator("input[name=from]").fill(one_day)
        form.locator("input[name=to]").fill(one_day)
        form.locator("select[name=by]").select_option("hour")

    wait_for_redraw(dashboard, "over-time", per_hour_of_one_day)
    hours = seeded_service.get("/stats/page-times", params={"by": "hour", "page_type": "product",
                                                            "from": one_day, "to": one_day}).json()["groups"]
    chart = drawn(dashboard, "over-time-chart")
    assert chart["labels"] == [g["hour"] for g in hours] and len(hours) > 1
    assert dataset(chart, "p95 ms") == pytest.approx([g["p95"] for g in hours], rel=1e-9)


def test_top_products_for_a_window(dashboard, seeded_service):
    def views_last_7_days():
        dashboard.locator("#top-products-form select[name=by]").select_option("views")
        dashboard.locator("#top-products-form select[name=days]").select_option("7")

    wait_for_redraw(dashboard, "top-products", views_last_7_days)
    top = seeded_service.get("/products/popular", params={"by": "views", "days": 7, "limit": 10}).json()["results"]
    chart = drawn(dashboard, "top-products-chart")
    assert chart["labels"] == [r["item_id"] for r in top] and len(top) == 10
    assert dataset(chart, "views") == pytest.approx([r["count"] for r in top], rel=1e-9)


def test_explorer_shows_recommendations_with_the_chosen_score(dashboard, seeded_service):
    top = seeded_service.get("/products/popular", params={"limit": 2}).json()["results"]
    cart = [top[0]["item_id"], top[1]["item_id"]]
    form = dashboard.locator("#explorer-form")

    def ask_for_a_cart():
        form.locator("select[name=mode]").select_option("cart")
        form.locator("input[name=ids]").fill(", ".join(cart))
        form.locator("select[name=score]").select_option("lift")
        form.locator("button").click()

    wait_for_redraw(dashboard, "explorer", ask_for_a_cart)
    expected = seeded_service.request("POST", "/recommendations/cart", params={"score": "lift"},
                                      json={"items": cart}).json()["results"]
    rows = dashboard.locator("#explorer-table tbody tr")
    assert rows.count() == len(expected) == 10
    for index, result in enumerate(expected):
        cells = rows.nth(index).locator("td")
        assert cells.nth(1).inner_text() == result["item_id"]
        assert cells.nth(2).inner_text() == ("–" if result["score"] is None else f"{result['score']:.4f}")
        assert cells.nth(3).inner_text() == str(result["support"])
        assert cells.nth(4).inner_text() == ", ".join(result["because"])
        assert cells.nth(5).inner_text() == result["source"]
    assert "scored by lift" in dashboard.locator("#explorer-summary").inner_text()
    dashboard.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_explorer_reports_a_bad_id(dashboard):
    form = dashboard.locator("#explorer-form")

    def ask_for_a_bad_user():
        form.locator("select[name=mode]").select_option("user")
        form.locator("input[name=ids]").fill("x" * 200)
        form.locator("button").click()

    wait_for_redraw(dashboard, "explorer", ask_for_a_bad_user)
    assert "400 user_id: must be at most 128 characters" in dashboard.locator("#explorer .error").inner_text()


def test_the_tuning_panel_shows_the_settings_in_force_and_the_last_tuning(dashboard, seeded_service):
    settings = dashboard.locator("#tuning-settings tbody tr")
    assert settings.count() == len(RecommendSettings().as_dict())
    assert dashboard.locator("#tuning-settings tr[data-setting=half_life] td.value").inner_text() == "30"
    assert dashboard.locator("#tuning-settings tr[data-setting=weight] td.source").inner_text() == "default"
    assert "no tuning stored yet" in dashboard.locator("#tuning-summary").inner_text()

    report = {"k": 10, "orders": 120, "asked_users": 7, "returning_users": 9, "sampled": True, "cold_start_users": 3,
              "tuned_at": "2026-12-03T18:00:00Z", "table": [
                  {"ranking": "popularity: best sellers not in the cart", "hit_rate": 0.1, "hit_rate_ci": [0.0, 0.3],
                   "mrr": 0.05, "mrr_ci": [0.0, 0.1]},
                  {"ranking": "cart with its owner, chosen (cosine)", "hit_rate": 0.5, "hit_rate_ci": [0.25, 0.75],
                   "mrr": 0.3, "mrr_ci": [0.1, 0.5]}]}
    store(Couch(seeded_service.couchdb_url, seeded_service.db), RecommendSettings(), report)  # today's settings
    deadline = time.monotonic() + 60  # the service re-reads the stored tuning every 10 s

    def reloaded():
        wait_for_redraw(dashboard, "tuning", lambda: dashboard.locator("#tuning-form button").click())
        return dashboard.locator("#tuning-table tbody tr").count() == 2 or time.monotonic() > deadline
    while not reloaded():
        time.sleep(1)
    rows = dashboard.locator("#tuning-table tbody tr")
    assert rows.nth(1).locator("td.ranking").inner_text() == "cart with its owner, chosen (cosine)"
    assert rows.nth(1).locator("td.hit-rate").inner_text() == "0.500 (0.250–0.750)"
    assert rows.nth(0).locator("td.mrr").inner_text() == "0.050 (0.000–0.100)"
    assert dashboard.locator("#tuning-summary").inner_text() == (
        "tuned 2026-12-03T18:00:00Z on 120 orders: 7 of 9 returning users asked (a sample), 3 cold start")
    assert dashboard.locator("#tuning-settings tr[data-setting=weight] td.source").inner_text() == "stored"


def test_the_dashboard_used_nothing_but_the_service(dashboard):
    assert dashboard.outside_requests == []
    assert [e for e in dashboard.console_errors if "400 (BAD REQUEST)" not in e] == []


def test_docs_page_renders_every_operation_offline(browser_page, seeded_service):
    document = seeded_service.get("/openapi.json").json()
    operations = sum(len(methods) for methods in document["paths"].values())
    browser_page.goto(seeded_service.url + "/docs")
    browser_page.wait_for_selector(".opblock", timeout=60_000)
    assert browser_page.locator(".opblock").count() == operations
    assert "couchrec" in browser_page.locator(".info .title").inner_text()
    browser_page.screenshot(path=str(ARTIFACTS / "docs.png"), full_page=False)
    assert browser_page.outside_requests == []
