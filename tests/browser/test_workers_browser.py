"""The Workers page in a real browser (Debian's Chromium through Playwright, headless): the
fleet as the service sees it, kept live without a reload, with no script error and no
Content-Security-Policy violation. Workers are the real worker classes heartbeating into the
app's database (no VM runs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from aasee.service import lifecycle
from aasee.service.postprocess import PostprocessWorker
from aasee.service.settings import Settings
from aasee.service.worker import SandboxWorker
from aasee.web.app import create_app
from tests.api.conftest import register_image, running

from .test_web_browser import Watch, _login

pytestmark = [pytest.mark.browser]


@pytest.fixture
def app_settings(tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    register_image(home)
    return Settings.model_validate({"home": home, "heartbeat_seconds": 1, "stale_after_seconds": 4})


def test_workers_page_follows_the_fleet_live(browser: Browser, app_settings: Settings) -> None:
    app = create_app(app_settings)
    service = app.state.web.service
    token = service.create_token("browser")
    sandbox = SandboxWorker(app_settings, name="vmhost:41:sandbox-1")
    sandbox.beat()
    PostprocessWorker(app_settings, name="pphost:42:postprocess-1").beat()
    watch = Watch()
    with running(app) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = watch.attach(context.new_page())
        _login(page, server.url, token)
        page.click("nav >> text=Workers")
        expect(page).to_have_url(f"{server.url}/workers")
        row = page.locator('tr[data-worker="vmhost:41:sandbox-1"]')
        expect(row.locator(".badge")).to_have_text("alive")
        expect(row.locator("td.images")).to_have_text("debian-bookworm-amd64:x86_64")
        expect(row.locator("td.sandboxes")).to_contain_text("qemu")
        expect(page.locator("#workers-summary")).to_have_text("2 alive of 2")
        page.evaluate("window.__not_reloaded = true")

        # A worker that joins appears; one that goes silent turns stale: no reload.
        lifecycle.beat_worker(
            service.db, "newhost:43:sandbox-1", "sandbox", "newhost", 43, None, ["x:aarch64"]
        )
        joined = page.locator('tr[data-worker="newhost:43:sandbox-1"]')
        expect(joined.locator("td.arches")).to_have_text("aarch64", timeout=10_000)
        expect(row.locator(".badge")).to_have_text("stale", timeout=15_000)
        expect(row).to_have_class(re.compile(r"\bstale\b"))
        assert page.evaluate("window.__not_reloaded") is True
        context.close()
    watch.assert_clean()
