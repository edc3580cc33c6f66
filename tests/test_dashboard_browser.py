"""The dashboard in a real browser: Debian's Chromium, headless, driven by Selenium through Sign in with Slack (the
simulated one), every page, a filter, a CSV download, a sorted table and an admin's retry. Each page is saved as a
screenshot under the test's temporary folder, and no page may log a console error (a CSP violation is one).

Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and `chromium-driver`; `.ci/run`
installs them when missing). Where they cannot be installed, these tests skip and say so. Set
DASHBOARD_SCREENSHOT_DIR to keep the screenshots (the README's comes from here).
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from bot import relay
from tests import dashboardkit as kit
from tests.harness import ADMIN, RunningBot

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()),
    reason=f"Chromium is not installed ({CHROMIUM}, {CHROMEDRIVER}): `apt-get install chromium chromium-driver` "
           "(.ci/run does it where it can) to run the browser tests",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def site(tmp_path, slack, bitbucket, database):
    """The bot at http://127.0.0.1:PORT, its PUBLIC_URL too (so the session cookie is not Secure there)."""
    clock = kit.Clock()
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    kit.register_app(slack, public_url)
    kit.seed_bitbucket(bitbucket, clock, hostile=False)  # the overview's screenshot is the README's
    running = RunningBot(kit.settings_for(tmp_path, slack, bitbucket, database, public_url=public_url), slack, clock=clock, port=port)
    running.public_url = public_url
    running.failed_id = kit.seed_operations(running, bitbucket)["failed_id"]
    yield running
    running.stop()


@pytest.fixture
def chromium(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-proxy-server",
                     "--window-size=1280,900", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    except Exception as error:  # noqa: BLE001 - a Chromium that will not start here is a skip, said plainly
        pytest.skip(f"Chromium did not start: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver, folder: Path, name: str) -> Path:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(600, min(int(height) + 20, 4000)))
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    keep = os.environ.get("DASHBOARD_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


PAGE_CHANGING = ("NoSuchElementException", "StaleElementReferenceException")  # selenium's, while a new page loads


def wait_for(condition, timeout: float = 10.0):
    """`condition()` until it holds; an element not there yet (the page after a click still loading) is not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = condition()
        except Exception as error:  # noqa: BLE001 - only the page-changing ones are waited out
            if type(error).__name__ not in PAGE_CHANGING:
                raise
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_an_admin_signs_in_reads_every_page_filters_downloads_and_retries_in_chromium(site, chromium, slack, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    shots = tmp_path / "screenshots"
    shots.mkdir()
    driver, base = chromium, site.public_url
    slack.oidc_user = ADMIN

    driver.get(base + "/dashboard")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Sign in"
    assert "acme/api" not in driver.find_element(By.TAG_NAME, "main").text
    screenshot(driver, shots, "signin")
    driver.find_element(By.ID, "signin").click()  # to the (simulated) Slack, and back
    wait_for(lambda: driver.find_element(By.TAG_NAME, "h1").text == "Overview")
    assert driver.current_url == base + "/dashboard"
    cookie = driver.get_cookie("bb_chatops_dashboard")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"] and cookie["path"] == "/dashboard"
    assert len(driver.find_elements(By.CSS_SELECTOR, "figure.chart svg rect.bar")) == 7 + 8
    screenshot(driver, shots, "overview")
    assert console_errors(driver) == []

    for path, name, heading in (("/dashboard/inventory", "inventory", "Inventory"), ("/dashboard/audit", "audit", "Audit"),
                                ("/dashboard/deliveries", "deliveries", "Webhook deliveries"),
                                ("/dashboard/environments", "environments", "Environments"),
                                ("/dashboard/repositories/acme/api", "repository", "acme/api")):
        driver.get(base + path)
        assert driver.find_element(By.TAG_NAME, "h1").text == heading, path
        screenshot(driver, shots, name)
        assert console_errors(driver) == [], path

    # The freeze's reason (Slack text) is shown as text: no script ran, no image was asked for.
    driver.get(base + "/dashboard/environments")
    assert "<script>alert(x)</script><img src=x onerror=alert(1)>" in driver.find_element(By.CSS_SELECTOR, "span.frozen").text
    assert driver.find_elements(By.CSS_SELECTOR, "main script, main img") == []

    # The inventory sorts by a header's click and filters as one types (the small script).
    driver.get(base + "/dashboard/inventory")
    header = driver.find_elements(By.CSS_SELECTOR, "#inventory th")[0]
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    kinds = [row.find_elements(By.TAG_NAME, "td")[0].text for row in driver.find_elements(By.CSS_SELECTOR, "#inventory tbody tr")]
    assert kinds == sorted(kinds) and "webhook" in kinds and kinds.count("owners") == 3
    # The owners rules, a person's name from Slack among them, shown as text.
    owned = [row.find_elements(By.TAG_NAME, "td")[3].text for row in driver.find_elements(By.CSS_SELECTOR, "#inventory tbody tr")
             if row.find_elements(By.TAG_NAME, "td")[0].text == "owners"]
    assert owned == [f"paths docs/** → person U4 ({kit.HOSTILE_LABEL})", "paths src/billing/** → channel C9 (billing)",
                     "paths src/billing/** → user group S1 (@billing-devs), 2 people"]
    assert driver.find_elements(By.CSS_SELECTOR, "main img, main script") == []
    driver.find_element(By.CSS_SELECTOR, "input[data-filter]").send_keys("reminder")
    visible = [row for row in driver.find_elements(By.CSS_SELECTOR, "#inventory tbody tr") if row.is_displayed()]
    assert [row.find_elements(By.TAG_NAME, "td")[0].text for row in visible] == ["reminder"]

    # A filter, and the CSV of what it kept.
    driver.get(base + "/dashboard/audit")
    Select(driver.find_element(By.NAME, "action")).select_by_visible_text("merge")
    driver.find_element(By.CSS_SELECTOR, "#audit-filter button[type=submit]").click()
    wait_for(lambda: "action=merge" in driver.current_url)
    shown = [row.find_elements(By.TAG_NAME, "td")[2].text for row in driver.find_elements(By.CSS_SELECTOR, "#audit tbody tr")]
    assert shown == ["merge", "merge"]
    screenshot(driver, shots, "audit-filtered")
    driver.find_element(By.ID, "audit-csv").click()
    downloaded = wait_for(lambda: (chromium.downloads / "audit.csv").is_file() and (chromium.downloads / "audit.csv"))
    with open(downloaded, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["action"], row["target"]) for row in rows] == [("merge", "acme/api2#1"), ("merge", "acme/api#7")]
    assert console_errors(driver) == []

    # An admin's retry: a POST with the page's token; the delivery goes back to the router.
    driver.get(base + "/dashboard/deliveries?state=failed")
    driver.find_element(By.CSS_SELECTOR, f"#delivery-{site.failed_id} button.retry").click()
    wait_for(lambda: "handed to the router again" in driver.find_element(By.CSS_SELECTOR, "p.flash").text)
    screenshot(driver, shots, "deliveries-retried")
    wait_for(lambda: next(d for d in relay.recent_deliveries(site.services.store) if d.id == site.failed_id).outcome.startswith("Malformed"))
    assert [e.action for e in site.services.audit.recent(5)][0] == "delivery_retry"
    assert console_errors(driver) == []
    assert sorted(p.name for p in shots.iterdir()) == sorted(
        f"{name}.png" for name in ("signin", "overview", "inventory", "audit", "deliveries", "environments", "repository",
                                   "audit-filtered", "deliveries-retried"))
