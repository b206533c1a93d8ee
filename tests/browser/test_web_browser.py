"""The web UI in a real browser (Debian's Chromium through Playwright, headless).

Two set-ups:
- ``test_ui_with_prepared_runs``: the app under uvicorn on a temporary home; tasks are taken
  to 'reported' by the backend's real workers and pipeline on prepared raw artefacts (no VM).
- the ``vm`` tests: ``aasee serve --workers 1`` as a real process tree on the host's guest
  images; the demo sample and a hostile sample run in real VMs. Run them serialized:
  ``flock /tmp/aasee-vm.lock .venv/bin/pytest -m vm tests/browser``.

On every page: no JavaScript error, no Content-Security-Policy violation, no dialog.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Download,
    FilePayload,
    Page,
    expect,
)

from aasee.service.settings import Settings
from aasee.web.app import create_app
from tests.api.conftest import Backend, register_image, running
from tests.api.raw_artefacts import hostile_run

pytestmark = [pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "src" / "aasee" / "demo" / "dropper.sh"
SCREENSHOT = ROOT / "bench" / "results" / "analysis-page.png"
PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
HOSTILE_NAME = "<img src=x onerror=alert(1)>.sh"
HOSTILE_ECHO = "<script>alert(2)</script>"
HOSTILE_FILE = '"><svg onload=alert(3)>'
HOSTILE_SCRIPT = (
    "#!/bin/sh\n"
    f"echo '{HOSTILE_ECHO}'\n"
    f"echo '<b>bold</b>' > '/tmp/{HOSTILE_FILE}'\n"
    f"cat '/tmp/{HOSTILE_FILE}'\n"
).encode()


@dataclass
class Watch:
    """What a page did that it must not: dialogs, script errors, CSP violations."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> Page:
        def on_dialog(dialog: Dialog) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.errors.append(message.text)

        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        return page

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"dialogs fired: {self.dialogs}"
        assert self.errors == [], f"browser errors: {self.errors}"


def _login(page: Page, url: str, token: str) -> None:
    page.goto(f"{url}/analyses")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{url}/analyses")


def _submit(page: Page, url: str, name: str, content: bytes, timeout: str) -> str:
    page.goto(f"{url}/submit")
    payload: FilePayload = {"name": name, "mimeType": "application/octet-stream", "buffer": content}
    page.set_input_files("#file", files=[payload])
    page.fill("#timeout", timeout)
    page.click("#submit-button")
    page.wait_for_url(re.compile(r"/analyses/[0-9a-f-]{36}"))
    return page.url.rsplit("/", 1)[-1].split("?", 1)[0]


def _expand_tree(page: Page, deep_text: str) -> None:
    """Collapse the process tree, then expand it all: ``deep_text`` (a child) shows again."""
    details = page.locator("#process-tree details")
    deep = page.locator("#process-tree").get_by_text(deep_text, exact=False).first
    assert details.count() > 0, "the process tree has no collapsible node"
    page.click("#tree-collapse")
    expect(details.first).not_to_have_attribute("open", "")
    expect(deep).to_be_hidden()
    page.click("#tree-expand")
    for index in range(details.count()):
        expect(details.nth(index)).to_have_attribute("open", "")
    expect(deep).to_be_visible()


def _download_pcap(page: Page) -> bytes:
    with page.expect_download() as info:
        page.click('a[data-artefact="pcap"]')
    download: Download = info.value
    path = download.path()
    assert path is not None
    data = Path(path).read_bytes()
    assert data[:4] in PCAP_MAGICS, f"not a pcap: {data[:16]!r}"
    return data


def _assert_hostile_text_shown(page: Page) -> None:
    body = page.locator("body")
    expect(body).to_contain_text(HOSTILE_NAME)
    expect(body).to_contain_text(HOSTILE_ECHO)
    expect(body).to_contain_text(HOSTILE_FILE)
    assert page.locator("img[src=x]").count() == 0
    assert page.locator("svg[onload]").count() == 0
    assert page.locator("script:not([src])").count() == 0


# --- without a VM: the app and the real workers on prepared artefacts ------------------------


@pytest.fixture
def prepared(tmp_path: Path) -> Iterator[tuple[str, str, Backend]]:
    home = tmp_path / "home"
    register_image(home)
    settings = Settings.model_validate({"home": home})
    app = create_app(settings)
    token = app.state.web.service.create_token("browser")
    with running(app) as server:
        yield server.url, token, Backend(settings)


def _later(action: Any, delay: float = 1.5) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_ui_with_prepared_runs(
    browser: Browser, prepared: tuple[str, str, Backend], tmp_path: Path
) -> None:
    url, token, backend = prepared
    watch = Watch()
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = watch.attach(context.new_page())
    _login(page, url, token)

    # The analysis page follows the task live and shows the report once it is there.
    task_id = _submit(page, url, "dropper.sh", DEMO.read_bytes(), "10")
    expect(page.locator("#live")).to_be_visible()
    worker = _later(lambda: backend.report(task_id))
    expect(page.locator("#task-status")).to_have_text("reported", timeout=30_000)
    worker.join()
    expect(page.locator("#live")).to_be_hidden()
    expect(page.locator("#processes")).to_be_visible()
    _expand_tree(page, "ls -l /tmp")
    _download_pcap(page)

    # The list keeps statuses live without a reload.
    second = httpx.post(
        f"{url}/api/v1/tasks",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": ("second.sh", b"#!/bin/sh\necho second\n")},
    ).json()["id"]
    page.goto(f"{url}/analyses")
    row = page.locator(f'tr[data-task-id="{second}"]')
    expect(row).to_have_attribute("data-status", "pending")
    page.evaluate("window.__not_reloaded = true")
    worker = _later(lambda: backend.report(second))
    expect(row).to_have_attribute("data-status", "reported", timeout=30_000)
    worker.join()
    expect(row.locator(".badge").first).to_have_text("reported")
    assert page.evaluate("window.__not_reloaded") is True

    # Sample-controlled HTML/JS is shown as text everywhere and never runs.
    hostile = httpx.post(
        f"{url}/api/v1/tasks",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": (HOSTILE_NAME, HOSTILE_SCRIPT)},
    ).json()["id"]
    backend.report(hostile, hostile_run(HOSTILE_NAME, HOSTILE_ECHO, f"/tmp/{HOSTILE_FILE}"))
    page.goto(f"{url}/analyses")
    expect(page.locator("body")).to_contain_text(HOSTILE_NAME)
    page.goto(f"{url}/analyses/{hostile}")
    page.click("#tree-expand")
    _assert_hostile_text_shown(page)
    page.goto(f"{url}/api/v1/tasks/{hostile}/report.html")
    page.goto(f"{url}/api/docs")
    expect(page.locator(".swagger-ui")).to_be_visible(timeout=20_000)
    page.screenshot(path=str(tmp_path / "prepared-analysis.png"), full_page=True)
    context.close()
    watch.assert_clean()


# --- with real VMs: `aasee serve --workers 1` ------------------------------------------------


@dataclass
class Served:
    url: str
    token: str
    log: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``aasee serve`` on the host's guest images, with its own database, queue and storage."""
    data = tmp_path_factory.mktemp("service")
    log = data / "serve.log"
    env = {**os.environ, "AASEE_CONFIG": str(data / "no-settings-file.toml")}
    aasee = Path(sys.executable).with_name("aasee")
    argv = [
        str(aasee),
        "serve",
        "--workers",
        "1",
        "--port",
        "0",
        "--database-url",
        f"sqlite:///{data / 'aasee.db'}",
        "--queue-url",
        f"sqlite:///{data / 'queue.db'}",
        "--storage-url",
        f"file://{data / 'storage'}",
    ]
    with log.open("wb") as errors:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, env=env, text=True)
    assert process.stdout is not None
    url = token = None
    banner: list[str] = []
    deadline = time.monotonic() + 60
    while (url is None or token is None) and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        banner.append(line)
        found_url = re.search(r"(http://[\d.]+:\d+)/", line)
        found_token = re.search(r"token \(shown once\): (\S+)", line)
        url = found_url.group(1) if found_url else url
        token = found_token.group(1) if found_token else token
    if url is None or token is None:
        process.kill()
        pytest.fail(f"aasee serve did not start: {''.join(banner)}\n{log.read_text()[-3000:]}")
    # Keep reading stdout so a chatty child never blocks on a full pipe.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    try:
        yield Served(url, token, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_reported_in_list(page: Page, url: str, task_id: str, served: Served) -> None:
    page.goto(f"{url}/analyses")
    row = page.locator(f'tr[data-task-id="{task_id}"]')
    page.evaluate("window.__not_reloaded = true")
    try:
        expect(row).to_have_attribute("data-status", re.compile("reported|failed"), timeout=300_000)
    except AssertionError:
        raise AssertionError(
            f"not finished; service log:\n{served.log.read_text()[-4000:]}"
        ) from None
    status = row.get_attribute("data-status")
    assert status == "reported", f"task {task_id} {status}: {row.inner_text()}"
    assert page.evaluate("window.__not_reloaded") is True  # updated live, not by a reload


@pytest.mark.vm
def test_demo_sample_end_to_end(browser: Browser, served: Served) -> None:
    watch = Watch()
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = watch.attach(context.new_page())
    _login(page, served.url, served.token)
    task_id = _submit(page, served.url, "dropper.sh", DEMO.read_bytes(), "20")
    expect(page.locator("#live")).to_be_visible()
    _wait_reported_in_list(page, served.url, task_id, served)
    page.click(f'tr[data-task-id="{task_id}"] td.name a')
    expect(page.locator("#task-status")).to_have_text("reported")
    _expand_tree(page, "hostname")
    _download_pcap(page)
    first_signature = page.locator("#signatures details.signature").first
    if first_signature.count():
        first_signature.locator("summary").click()  # its evidence shows in the screenshot
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    context.close()
    watch.assert_clean()


@pytest.mark.vm
def test_hostile_sample_is_shown_as_text(browser: Browser, served: Served) -> None:
    watch = Watch()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = watch.attach(context.new_page())
    _login(page, served.url, served.token)
    task_id = _submit(page, served.url, HOSTILE_NAME, HOSTILE_SCRIPT, "20")
    _wait_reported_in_list(page, served.url, task_id, served)
    expect(page.locator("body")).to_contain_text(HOSTILE_NAME)
    page.goto(f"{served.url}/analyses/{task_id}")
    page.click("#tree-expand")
    _assert_hostile_text_shown(page)
    page.goto(f"{served.url}/api/v1/tasks/{task_id}/report.html")
    context.close()
    watch.assert_clean()
