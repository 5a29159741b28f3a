"""End to end in a real browser: JupyterLab on 127.0.0.1, the β-VAE lesson opened and run in headless
Chromium (Debian's, driven by Playwright; never a downloaded browser), its sliders rendered as widgets,
moved, and the images they drive checked to change.  A screenshot lands in artifacts/.  And the static
page: a tiny lesson with a β slider panel built by ``site.build_site``, opened from file:// with no kernel,
its slider moved and the picture checked to change (about 20 s).

Skipped, with the reason, where no browser or no Playwright can be had (``scripts/test.sh`` installs
Debian's chromium with apt-get when it runs as root).  The lesson runs in fast mode with the test session's
own cache, so it trains its five small models from scratch: about a minute on an idle 2-core machine.
"""
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
LESSON = os.environ.get("DVAE_BROWSER_LESSON", "02_beta_vae.ipynb")

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium) to run "
                "the browser test", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on 127.0.0.1 serving a copy of the lesson (the committed file stays clean)."""
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / LESSON, root / LESSON)
    settings = tmp_path / "jupyter"
    lab_settings = settings / "lab-settings"
    # every cell rendered (no windowing, so every prompt can be read) and no news pop-up
    for plugin, values in (("notebook-extension/tracker", '{"windowingMode": "none"}'),
                           ("apputils-extension/notification", '{"fetchNews": "false", "checkForUpdates": false}')):
        path = lab_settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(values)
    env = dict(os.environ, DVAE_TUTORIAL_FAST="1", JUPYTER_CONFIG_DIR=str(settings / "config"),
               JUPYTER_DATA_DIR=str(settings / "data"), JUPYTER_RUNTIME_DIR=str(settings / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(lab_settings))
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError("JupyterLab exited: " + (tmp_path / "jupyterlab.log").read_text()[-2000:]) from None
                time.sleep(0.5)
        else:
            raise RuntimeError("JupyterLab did not answer within 60 s")
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _images(page) -> list[str]:
    return page.eval_on_selector_all(".jp-OutputArea-output img", "els => els.map(e => e.src)")


def _most_informative_latent(page) -> str:
    """Label pattern of the traversal slider with the largest KL (labels read "z3 1.52"): a collapsed
    latent may decode to the same picture, an active one cannot."""
    labels = [t.strip() for t in page.eval_on_selector_all(".widget-slider .widget-label", "els => els.map(e => e.innerText)")]
    scored = [(float(m.group(2)), m.group(1)) for m in (re.match(r"^(z\d+)\s+([\d.]+)", t) for t in labels) if m]
    assert scored, f"no traversal slider (z0, z1, ...) among {labels}"
    return rf"^{max(scored)[1]}\b"


def _move_slider(page, label_pattern: str, presses: int = 3) -> str:
    """Focus the handle of the first slider whose label matches and press an arrow key (right, or left
    when the slider is at its maximum), as a keyboard user would; returns the label."""
    sliders = page.locator(".widget-slider")
    for i in range(sliders.count()):
        slider = sliders.nth(i)
        label = slider.locator(".widget-label").first.inner_text().strip()
        if re.search(label_pattern, label):
            handle = slider.locator(".noUi-handle").first
            handle.scroll_into_view_if_needed()
            handle.focus()
            at_max = float(handle.get_attribute("aria-valuenow")) >= float(handle.get_attribute("aria-valuemax"))
            for _ in range(presses):
                page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
            return label
    raise AssertionError(f"no slider labelled like {label_pattern!r}; labels: "
                         f"{[sliders.nth(i).locator('.widget-label').first.inner_text() for i in range(sliders.count())]}")


def _wait_for_images_to_change(page, before: list[str], timeout: float = 60) -> list[str]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = _images(page)
        if now != before:
            return now
        time.sleep(0.5)
    raise AssertionError("moving the slider did not change any image output")


def _start_kernel(page, timeout: float = 120) -> None:
    """Wait until the notebook's kernel is idle, answering JupyterLab's "Select Kernel" dialog if it asks."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        dialog = page.locator(".jp-Dialog")
        if dialog.count() and "Select Kernel" in dialog.first.inner_text():
            dialog.locator("button", has_text=re.compile(r"^Select$")).click()
        status = page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\|\s*Idle")).count()
        if status and not page.locator(".jp-StatusBar-Widget", has_text="No Kernel").count():
            return
        time.sleep(0.5)
    page.screenshot(path=str(ARTIFACTS / "browser_no_kernel.png"))
    raise AssertionError(f"the notebook's kernel did not become idle within {timeout:.0f} s "
                         f"(screenshot: {ARTIFACTS / 'browser_no_kernel.png'})")


def _run_all_cells(page, tries: int = 3) -> None:
    """Run > Run All Cells, checked: some prompt must turn to [*] or a number (retried when the click was lost)."""
    for _ in range(tries):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        deadline = time.time() + 30
        while time.time() < deadline:
            prompts = page.eval_on_selector_all(".jp-CodeCell .jp-InputArea-prompt", "els => els.map(e => e.innerText)")
            if any(re.fullmatch(r"\[(\*|\d+)\]:", t.strip()) for t in prompts):
                return
            time.sleep(0.5)
    page.screenshot(path=str(ARTIFACTS / "browser_not_running.png"))
    raise AssertionError(f"Run All Cells did not start the lesson (screenshot: {ARTIFACTS / 'browser_not_running.png'})")


def test_lesson_widgets_work_in_a_real_browser(jupyterlab):
    url, token = jupyterlab
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{url}/lab/tree/{LESSON}?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        _start_kernel(page)
        _run_all_cells(page)
        # wait until every code cell has run: each prompt shows a number, none "[*]" or "[ ]"
        deadline = time.time() + 600
        while True:
            prompts = [t.strip() for t in page.eval_on_selector_all(
                ".jp-CodeCell .jp-InputArea-prompt", "els => els.map(e => e.innerText)")]
            if prompts and all(re.fullmatch(r"\[\d+\]:", t) for t in prompts):
                break
            assert time.time() < deadline, f"the lesson did not finish within 10 minutes: prompts {prompts}"
            if page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").count():
                break   # a cell failed: stop waiting, the assertion below shows it
            time.sleep(1)
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        tracebacks = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
        assert tracebacks.count() == 0, tracebacks.first.inner_text()[:2000]
        assert page.locator(".widget-slider").count() >= 2

        before = _images(page)
        assert before, "no image output found"
        moved = _move_slider(page, r"^(β|beta)")
        after_beta = _wait_for_images_to_change(page, before)
        moved_z = _move_slider(page, _most_informative_latent(page), presses=10)
        _wait_for_images_to_change(page, after_beta)
        page.locator(".widget-slider").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "browser_beta_vae.png"), full_page=False)
        print(f"moved {moved!r} and {moved_z!r}; screenshot: {ARTIFACTS / 'browser_beta_vae.png'}; "
              f"stderr outputs: {errors.count()}")
        browser.close()


# A lesson with a β panel over three untrained small nets (different initial weights decode different
# pictures; no training, so the page builds in seconds).
STATIC_LESSON_CODE = """\
import numpy as np
import torch
from dvae_tutorial import models, runs, widgets

def untrained(seed):
    torch.manual_seed(seed)
    model = models.VAE(latent_dim=4, image_size=32, architecture="small").eval()
    history = {"loss": np.full(10, 100.0 + seed), "kl_per_dim": np.full((10, 4), 0.2 * seed)}
    return runs.LiveRun(model, history, {"steps": 10}, 0.0, True)

x = torch.zeros(1, 1, 32, 32)
x[..., 10:22, 12:20] = 1.0
panel = widgets.SweepExplorer({b: untrained(b) for b in (1, 2, 4)}, name="beta", x=x, n_steps=3)
panel.widget"""


def test_static_page_slider_switches_pictures_without_a_kernel(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    from dvae_tutorial import site

    src = tmp_path / "src"
    src.mkdir()
    nb = new_notebook(cells=[new_markdown_cell("# 00 · Static slider"), new_code_cell(STATIC_LESSON_CODE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, src / "00_static.ipynb")
    site.build_site(src, tmp_path / "out", fast=True, timeout=120)
    url = (tmp_path / "out" / "00_static.html").resolve().as_uri()
    ARTIFACTS.mkdir(exist_ok=True)
    visible = ".dvae-static-slider .dvae-frame:not([hidden])"
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(url)
        page.wait_for_selector(".dvae-static-slider", state="visible", timeout=30_000)
        pictures = lambda: page.eval_on_selector_all(f"{visible} img", "els => els.map(e => e.src)")  # noqa: E731
        before = pictures()
        assert page.locator(visible).count() == 1 and len(before) == 2, "expected one frame: traversal + KL bars"
        assert page.inner_text(".dvae-static-slider output") == "1"
        handle = page.locator(".dvae-static-slider input[type=range]")
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("document.querySelector('.dvae-static-slider output').textContent === '2'",
                               timeout=5_000)
        after = pictures()
        assert page.locator(visible).count() == 1
        assert after[0] != before[0] and after[1] != before[1], "moving the slider did not change the pictures"
        assert "beta = 2" in page.inner_text(visible)
        page.keyboard.press("End")                     # the last trained value
        page.wait_for_function("document.querySelector('.dvae-static-slider output').textContent === '4'",
                               timeout=5_000)
        assert pictures()[0] not in (before[0], after[0])
        page.screenshot(path=str(ARTIFACTS / "browser_static_slider.png"), full_page=True)

        # without JavaScript: no slider, the snapshot of the panel instead
        plain = browser.new_context(java_script_enabled=False).new_page()
        plain.goto(url)
        assert not plain.locator(".dvae-static-slider").is_visible()
        assert plain.locator("img[alt='panel image']").count() >= 2
        browser.close()
