"""The HTML report in a real headless Chromium: hostile report strings stay text, no script
runs, nothing is fetched, and the page renders.

Uses the system Chromium (/usr/bin/chromium) through Playwright; never downloads a browser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aasee.processing.html import write_html
from aasee.processing.models import Report
from tests.unit.html.html_reports import rich_dict

pytestmark = pytest.mark.browser

NAME = "<script>alert(1)</script>"
USER_AGENT = "<img src=x onerror=alert(2)>"
SVG = '"><svg onload=alert(3)>'
BREAKOUT = "</script><script>alert(4)</script>"
CANARY = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def _hostile_report() -> Report:
    data: dict[str, Any] = rich_dict()
    data["sample"]["name"] = NAME
    data["network"]["http"][0]["user_agent"] = USER_AGENT
    data["files"]["written"][0]["path"] = f"/tmp/{SVG}{CANARY}"
    data["files"]["renamed"][0]["dst"] = f"/tmp/{BREAKOUT}"
    data["processes"][1]["argv"] = ["ls", SVG, BREAKOUT]
    data["process_tree"][0]["children"][0]["image"] = f"/bin/{BREAKOUT}"
    data["network"]["dns_traffic"][0]["name"] = f"{SVG}.{BREAKOUT}"
    data["signatures"][0]["evidence"][0]["summary"] = CANARY
    data["output"]["stdout"] = f"{BREAKOUT}\n{CANARY}\n"
    return Report.model_validate(data)


@pytest.mark.timeout(60)
def test_hostile_report_is_inert_in_chromium(browser: Any, tmp_path: Path) -> None:
    page_file = tmp_path / "report.html"
    write_html(_hostile_report(), page_file)
    url = page_file.as_uri()
    page = browser.new_page()
    dialogs: list[str] = []
    requests: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(url, wait_until="load")
    # Give anything that could run (onload, onerror, timers) the chance to.
    page.wait_for_timeout(300)

    assert dialogs == []
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.scripts.length") == 0
    assert page.evaluate("document.querySelectorAll('svg, img, iframe, object').length") == 0
    text = page.evaluate("document.body.textContent")
    for hostile in (NAME, USER_AGENT, SVG, BREAKOUT, CANARY):
        assert hostile in text, hostile
    assert page.title().startswith("AASEE report: " + NAME)
    assert requests == [url]

    # The collapsible tree and tables work without script.
    assert page.locator("#processes details").count() >= 1
    assert page.locator("#r-files-written-0").is_visible()

    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    page.close()
