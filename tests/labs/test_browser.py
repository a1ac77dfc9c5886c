"""A real browser: JupyterLab serves the training notebook, headless Chromium runs it and presses its buttons.

Needs Chromium (Debian's ``chromium``; ``make test`` installs it where it can) and the ``playwright`` package.
Screenshots go to ``test-artifacts/``.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ..conftest import load_script
from .test_notebooks import STRIP

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TOKEN = "alexnet-lab-test"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (make test installs Debian's where it can)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVED = {}  # the folder the server's notebooks are in (copies of labs/)


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory):
    port = _free_port()
    # As a user runs it: no interpreter, matplotlib's inline backend (the suite's Agg would hide the figures).
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "MPLBACKEND")}
    # A server of its own: config, runtime and workspaces in temporary folders, so nothing of the user's own
    # JupyterLab (a saved workspace with other notebooks open, their settings) reaches it. The user's home here
    # holds such a workspace, as it does after `make lab`: the test shows that it is not restored.
    home = _user_home_with_a_workspace(tmp_path_factory.mktemp("home"))
    from alexnet.data import cache_dir

    env.update(ALEXNET_LAB_FAST="1", HOME=str(home), ALEXNET_LAB_CACHE=str(cache_dir()),
               ALEXNET_LAB_DATA=str(ROOT.parent / "shared" / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path_factory.mktemp("runtime")),
               JUPYTER_CONFIG_DIR=str(tmp_path_factory.mktemp("config")))  # fmt: skip
    workspaces = tmp_path_factory.mktemp("workspaces")
    # Render every cell: JupyterLab's default windowing leaves cells outside the viewport out of the page.
    settings = tmp_path_factory.mktemp("settings")
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text('{"windowingMode": "none"}')
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false", "checkForUpdates": false}')
    # Serve a copy: JupyterLab autosaves notebooks, and the committed ones must stay without outputs.
    labs = tmp_path_factory.mktemp("labs")
    for notebook in (ROOT / "labs").glob("*.ipynb"):
        shutil.copy(notebook, labs / notebook.name)
    SERVED["labs"] = labs
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={labs}",
           "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False", "--allow-root",
           f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={workspaces}"]  # fmt: skip
    log = open(tmp_path_factory.mktemp("lab") / "lab.log", "w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"jupyter lab exited: {Path(log.name).read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not start within 60 s")
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def _user_home_with_a_workspace(home: Path) -> Path:
    """A home folder whose JupyterLab workspace has two other notebooks open (what broke this test once)."""
    import json

    folder = home / ".jupyter" / "lab" / "workspaces"
    folder.mkdir(parents=True)
    opened = ["00_welcome.ipynb", "03_relu_vs_tanh.ipynb"]
    data = {f"notebook:{name}": {"data": {"path": name, "factory": "Notebook"}} for name in opened}
    data["layout-restorer:data"] = {
        "main": {"dock": {"type": "tab-area", "currentIndex": 1, "widgets": [f"notebook:{n}" for n in opened]}},
    }
    workspace = {"data": data, "metadata": {"id": "default", "last_modified": "2026-12-01T10:00:00+00:00"}}
    (folder / "default-37a8.jupyterlab-workspace").write_text(json.dumps(workspace))
    return home


def _wait_until_idle(page, timeout_s: float) -> None:
    """Wait for the kernel to be idle with no cell queued (a loaded 2-core machine takes what it takes): the
    notebook benchmark's own wait (benchmarks/bench_notebooks.py), so the test and the timings agree."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        bench = load_script(ROOT / "benchmarks" / "bench_notebooks.py")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    bench.wait_idle(page, timeout_s)


def test_training_notebook_runs_in_a_browser_and_its_buttons_work(lab_url):
    playwright = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],  # fmt: skip
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{lab_url}/lab/tree/02_train_alexnet.ipynb?token={TOKEN}")
            page.wait_for_selector(".jp-Notebook", timeout=90_000)
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
                timeout=90_000,
            )
            opened = page.evaluate("[...window.jupyterapp.shell.widgets('main')].map(w => w.title.label)")
            assert opened == ["02_train_alexnet.ipynb"], f"the user's workspace leaked in: {opened}"
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            # The dashboard renders (ipywidgets in the page), the fast run finishes and the static plots appear.
            try:
                _wait_until_idle(page, 600)
                start = page.locator("button.jupyter-button", has_text="Start").first
                start.wait_for(timeout=60_000)
                page.wait_for_function(
                    "() => document.querySelectorAll('.jp-OutputArea-output img').length >= 3", timeout=60_000
                )
                page.wait_for_selector("text=saved and reloaded", timeout=60_000)
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "browser-02-timeout.png"), full_page=True)
                (ARTIFACTS / "browser-02-timeout.txt").write_text(page.inner_text("body"))
                raise
            page.screenshot(path=str(ARTIFACTS / "browser-02-after-run-all.png"), full_page=True)

            # Press Start: a new background run; then Pause it and see the panel say so.
            start.scroll_into_view_if_needed()
            start.click()
            page.wait_for_selector("text=/training|stopped/", timeout=300_000)
            pause = page.locator("button.jupyter-button", has_text="Pause").first
            if pause.is_enabled():
                pause.click()
                page.wait_for_selector("text=/paused|stopped/", timeout=300_000)
            page.screenshot(path=str(ARTIFACTS / "browser-02-after-pressing-buttons.png"), full_page=True)
            text = page.inner_text(".jp-Notebook")
            assert "epoch" in text and "step" in text
            assert "paused" in text or "stopped" in text
            page.locator("button.jupyter-button", has_text="Stop").first.click()
            # Saved with everything JupyterLab writes after a Run All, the notebook is, to git's filter, the
            # committed one: a student's clone stays clean.
            saved = SERVED["labs"] / "02_train_alexnet.ipynb"
            before = saved.stat().st_mtime_ns
            page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
            deadline = time.time() + 60
            while saved.stat().st_mtime_ns == before and time.time() < deadline:
                time.sleep(0.5)
            text = saved.read_text(encoding="utf-8")
            committed = (ROOT / "labs" / "02_train_alexnet.ipynb").read_text(encoding="utf-8")
            assert text != committed, "JupyterLab did not save the run"
            stripped = subprocess.run(STRIP, input=text, text=True, capture_output=True, check=True).stdout
            assert stripped == committed
        finally:
            browser.close()
