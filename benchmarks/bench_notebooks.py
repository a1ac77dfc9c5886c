"""How long each notebook's Run All takes with its default settings, as a student runs it (not in fast mode).

Two ways, each in a copy of the repository's ``labs/`` beside the committed results, so nothing is written into
the clone: ``nbclient`` (a kernel, no browser), and ``--browser``: JupyterLab in Chromium (Playwright), Run All
from the menu's command, timed until the kernel is idle with no cell queued. ``--dashboard 1 3 5`` also presses
Start in notebook 2's dashboard after its Run All and takes a screenshot at each of those minutes.
Results go to ``benchmarks/results/notebooks-<cpu>.json``, screenshots beside it in ``notebooks-<cpu>/``.

    python benchmarks/bench_notebooks.py [--browser] [--dashboard 1 3 5] [NOTEBOOK ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import RESULTS, slug

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TOKEN = "alexnet-lab-bench"


def machine() -> str:
    from bench_first_minutes import machine as cpu

    return cpu()


def user_labs(folder: Path) -> Path:
    """A student's clone, in ``folder``: a copy of labs/ beside the committed results (read-only, linked)."""
    labs = folder / "labs"
    shutil.copytree(ROOT / "labs", labs, ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints"))
    (folder / "benchmarks").symlink_to(ROOT / "benchmarks")
    return labs


def environment() -> dict:
    """As a student runs the notebooks: no interpreter, no fast mode, the lab's data where the notebooks look."""
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "ALEXNET_LAB_FAST", "MPLBACKEND")}
    return dict(env, ALEXNET_LAB_DATA=str(DATA))


def run_nbclient(labs: Path, name: str) -> tuple[float, list[tuple[int, float]]]:
    """Seconds of one notebook's Run All through nbclient, and its three slowest cells (index, seconds); raises if
    a cell fails."""
    from datetime import datetime

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(labs / name, as_version=4)
    client = NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(labs)}})
    start = time.perf_counter()
    client.execute(env=dict(environment(), MPLBACKEND="module://matplotlib_inline.backend_inline"))
    seconds = time.perf_counter() - start
    cells = []
    for index, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            began, ended = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                            for k in ("iopub.execute_input", "shell.execute_reply"))  # fmt: skip
            cells.append((index, round((ended - began).total_seconds(), 1)))
    return seconds, sorted(cells, key=lambda c: -c[1])[:3]


IDLE = """() => {
    const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = nb && nb.sessionContext && nb.sessionContext.session && nb.sessionContext.session.kernel;
    if (!kernel || kernel.status !== 'idle') return false;
    const prompts = [...document.querySelectorAll('.jp-InputArea-prompt')].map(p => p.textContent);
    return prompts.length > 0 && !prompts.some(t => t.includes('*'));
}"""
KERNEL_READY = ("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel")  # fmt: skip


def wait_idle(page, timeout_s: float = 1800, settle_s: float = 2.0) -> float:
    """Wait until the kernel has been idle with no cell queued for ``settle_s``; the time it became idle."""
    end = time.time() + timeout_s
    idle_since = None
    while time.time() < end:
        if page.evaluate(IDLE):
            idle_since = idle_since or time.perf_counter()
            if time.perf_counter() - idle_since > settle_s:
                return idle_since
        else:
            idle_since = None
        time.sleep(0.25)
    raise TimeoutError(f"the kernel did not become idle within {timeout_s:.0f} s")


class JupyterLab:
    """A JupyterLab server of its own on ``labs`` (settings, runtime and workspaces in ``folder``)."""

    def __init__(self, labs: Path, folder: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        settings = folder / "settings"
        tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
        tracker.parent.mkdir(parents=True)
        tracker.write_text('{"windowingMode": "none"}')  # every cell rendered
        news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        news.parent.mkdir(parents=True)
        news.write_text('{"fetchNews": "false", "checkForUpdates": false}')  # no pop-up over the screenshots
        env = dict(environment(), HOME=str(folder), JUPYTER_RUNTIME_DIR=str(folder / "runtime"),
                   JUPYTER_CONFIG_DIR=str(folder / "config"))  # fmt: skip
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={labs}", "--allow-root",
               "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={folder / 'workspaces'}"]  # fmt: skip
        self.log = open(folder / "lab.log", "w")
        self.server = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                       start_new_session=True)  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={TOKEN}", timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        self.close()
        raise RuntimeError(f"jupyter lab did not start: {Path(self.log.name).read_text()[-1000:]}")

    def close(self) -> None:
        os.killpg(self.server.pid, signal.SIGTERM)
        self.server.wait(timeout=30)
        self.log.close()


def run_browser(labs: Path, folder: Path, names: list[str], shots: Path, dashboard: list[float]) -> dict:
    """Seconds of each notebook's Run All in JupyterLab in Chromium; screenshots of each notebook when done and
    of notebook 2's dashboard ``dashboard`` minutes after Start."""
    from playwright.sync_api import sync_playwright

    lab = JupyterLab(labs, folder)
    times = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium") or shutil.which("chromium-browser"),
                                        args=["--no-sandbox", "--disable-gpu", "--no-first-run"])  # fmt: skip
            for name in names:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{lab.url}/lab/tree/{name}?token={TOKEN}")
                page.wait_for_function(KERNEL_READY, timeout=120_000)
                wait_idle(page, 120)
                start = time.perf_counter()
                page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
                time.sleep(1.0)  # the first cell is queued
                times[name] = wait_idle(page) - start
                print(f"{name}: Run All in the browser {times[name]:.0f} s", flush=True)
                page.screenshot(path=str(shots / f"{Path(name).stem}-after-run-all.png"), full_page=True)
                if name.startswith("02_") and dashboard:
                    press_start_and_shoot(page, shots, dashboard)
                page.evaluate("window.jupyterapp.commands.execute('kernelmenu:shutdown')")
                page.close()
            browser.close()
    finally:
        lab.close()
    return times


def press_start_and_shoot(page, shots: Path, minutes: list[float]) -> None:
    """Press the dashboard's Start and screenshot the panel at each of ``minutes`` after it."""
    start_button = page.locator("button.jupyter-button", has_text="Start").first
    start_button.scroll_into_view_if_needed()
    started = time.perf_counter()
    start_button.click()
    panel = page.locator(".widget-vbox").first
    for minute in minutes:
        time.sleep(max(0.0, started + 60 * minute - time.perf_counter()))
        panel.screenshot(path=str(shots / f"dashboard-{minute:g}-min.png"))
        status = page.locator(".widget-label", has_text="| epoch").first.inner_text()
        print(f"dashboard at {minute:g} min: {status}", flush=True)
    page.locator("button.jupyter-button", has_text="Stop").first.click()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="default: every notebook in labs/")
    parser.add_argument("--browser", action="store_true", help="JupyterLab in Chromium instead of nbclient")
    parser.add_argument("--dashboard", nargs="*", type=float, default=[], metavar="MINUTES",
                        help="with --browser: screenshots of notebook 2's dashboard this many minutes after Start")
    parser.add_argument("--out", default=None, help="the JSON (default: results/notebooks-<cpu>.json); runs of "
                        "the other way, and of other notebooks, already in it are kept")  # fmt: skip
    args = parser.parse_args(argv)
    names = args.notebooks or sorted(p.name for p in (ROOT / "labs").glob("*.ipynb"))
    path = Path(args.out) if args.out else RESULTS / f"notebooks-{slug(machine())}.json"
    shots = path.with_suffix("")
    shots.mkdir(parents=True, exist_ok=True)
    result = json.loads(path.read_text()) if path.exists() else dict(meta=dict(machine=machine()), seconds={})
    if result["meta"]["machine"] != machine():
        raise SystemExit(f"{path} was measured on {result['meta']['machine']}, not on this {machine()}")
    way = "browser" if args.browser else "nbclient"
    with tempfile.TemporaryDirectory() as folder:
        labs = user_labs(Path(folder))
        if args.browser:
            times = run_browser(labs, Path(folder), names, shots, args.dashboard)
        else:
            times = {}
            for name in names:
                times[name], slowest = run_nbclient(labs, name)
                result.setdefault("slowest_cells", {})[name] = slowest
                print(f"{name}: Run All through nbclient {times[name]:.0f} s; slowest cells (index, s): {slowest}",
                      flush=True)  # fmt: skip
    import torch

    result["seconds"].setdefault(way, {}).update({name: round(s, 1) for name, s in times.items()})
    result["meta"].update(torch=torch.__version__, date=time.strftime("%Y-%m-%d"))
    from alexnet.files import save_json

    save_json(result, path)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
