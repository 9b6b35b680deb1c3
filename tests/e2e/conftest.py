"""Real-browser fixtures: the app served by `streamlit run` on a free loopback port,
and Debian's Chromium driven by Playwright."""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(os.environ.get("CRLM_SCREENSHOTS", "/tmp/crlm-screenshots"))


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_store(src: Path, dest_dir: Path) -> Path:
    """A copy of a store file (and its write-ahead log) that a server process can own."""
    dest = dest_dir / "crlm.duckdb"
    shutil.copy(src, dest)
    wal = Path(f"{src}.wal")
    if wal.exists():
        shutil.copy(wal, f"{dest}.wal")
    return dest


@dataclasses.dataclass
class Served:
    url: str
    store: Path
    log: Path
    proc: subprocess.Popen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextlib.contextmanager
def serve_app(store_path: Path, root: Path, timeout_s: float = 90, *, env: dict | None = None,
              args: tuple[str, ...] = (), script: str = "app.py"):
    """Run ``streamlit run app.py`` (or ``script``, e.g. ``serve.py``) on a copy of
    ``store_path`` (demo mode unless ``env`` says otherwise; ``args`` are more server
    options); yield a ``Served`` (url, store copy, server log, ``stop()``); stop the server
    afterwards.

    The server gets its own copy so that this test process's connection to the
    original (AppTests, fixtures) never locks it out of the file. It runs without
    Streamlit's source file watcher: a server under test never reloads on an edit, and
    the watcher re-walks the whole checkout (``.venv`` included) whenever its event
    queue overflows and maps every imported module to its files in each session."""
    store_copy = copy_store(store_path, root)
    port = _free_port()
    log = root / "streamlit.log"
    server_env = dict(os.environ, CRLM_DB=str(store_copy), CRLM_DEMO_MODE="1",
                      PYTHONUNBUFFERED="1")
    server_env.update(env or {})
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port),
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
             *args],
            cwd=ROOT, env=server_env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    served = Served(url, store_copy, log, proc)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited early:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"streamlit did not become healthy:\n{log.read_text()[-3000:]}")
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="session")
def app_url(demo_store_path, tmp_path_factory):
    """The app served on a copy of the session's demo store."""
    with serve_app(demo_store_path, tmp_path_factory.mktemp("server")) as served:
        yield served.url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() or not shutil.which("chromium"):
        _unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover
        _unavailable(f"playwright is not installed: {exc}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def wait_for_app(page) -> None:
    """Wait until Streamlit has finished running the script and plotly has drawn."""
    wait_idle(page)
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=90_000)


def wait_idle(page) -> None:
    """Wait until no script run is in progress.

    stApp carries the run state: "initial" before the first run, "running", then
    "notRunning" once the whole script has finished and its elements are sent."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                           timeout=120_000)


def choose_option(page, widget, level: str) -> None:
    """Pick ``level`` in a multiselect and wait until it shows as chosen. Under load a
    rerun can redraw the widget between typing and choosing, which closes its list and
    drops the choice: then try again (at most four times), each try bounded by a
    Playwright wait."""
    box = widget.locator("input")
    chosen = widget.locator(f'[data-tag][aria-label="{level}"]').filter(visible=True)
    option = page.get_by_role("option", name=level, exact=True)
    for _ in range(4):
        wait_idle(page)
        try:
            box.click(timeout=20_000)
            box.fill(level)                # typing opens the list, narrowed to this level
            option.wait_for(state="visible", timeout=20_000)
            option.click(timeout=10_000)
            chosen.wait_for(state="visible", timeout=20_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    chosen.wait_for(state="visible", timeout=5_000)
    page.keyboard.press("Escape")


def wait_for_plots(page, n: int) -> None:
    """Wait until at least ``n`` plotly figures have drawn (they draw after the run ends)."""
    page.wait_for_function(
        f"() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}",
        timeout=90_000)


def screenshot(page, name: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENSHOTS / path.name)
    return path
