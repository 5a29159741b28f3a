"""The offline HTML site: tiny synthetic lessons are run in a real kernel and converted (about 10 s in all)."""
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dvae_tutorial import site

SHOW_FLAG = "from dvae_tutorial import config\nprint('fast mode in kernel:', config.fast_mode())"
SLIDER = "import ipywidgets as w\nw.IntSlider(value=7, min=0, max=9, description='steps')"
SCORE_PANEL = ("from dvae_tutorial import widgets\n"
               "scores = widgets.ScoreExplorer({1: {'mig': 0.1, 'sap': 0.05}, 4: {'mig': 0.4, 'sap': 0.2}}, name='beta')\n"
               "scores.widget")


def write_lesson(folder: Path, name: str, cells) -> Path:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    nbformat.write(nb, path)
    return path


class Scripts(HTMLParser):
    """Every <script> tag's attributes and every <a href> of a page."""

    def __init__(self):
        super().__init__()
        self.scripts, self.links = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts.append(dict(attrs))
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))


def parse(path: Path) -> Scripts:
    parser = Scripts()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def tiny_site(tmp_path_factory):
    """One lesson (heading, a print, the fast flag, an IntSlider, a score panel) built in fast mode."""
    root = tmp_path_factory.mktemp("site")
    write_lesson(root / "src", "00_tiny.ipynb", [
        new_markdown_cell("# 00 · A tiny lesson\n\nSome text and a formula $\\beta > 1$."),
        new_code_cell("print('hello from the kernel', 6 * 7)"),
        new_code_cell(SHOW_FLAG),
        new_code_cell(SLIDER),
        new_code_cell(SCORE_PANEL),
        new_code_cell("scores.select(4)"),            # a later cell moves the panel: the page starts there
    ])
    index = site.build_site(root / "src", root / "out", fast=True, timeout=120)
    return root / "out", index


def test_index_lists_the_lesson_under_its_heading(tiny_site):
    out, index = tiny_site
    assert index == out / "index.html"
    text = index.read_text(encoding="utf-8")
    assert re.search(r'<a href="00_tiny\.html">00 · A tiny lesson</a>', text), text
    assert (out / "00_tiny.html").exists()


def test_page_holds_the_output_and_the_kernel_ran_in_fast_mode(tiny_site):
    page = (tiny_site[0] / "00_tiny.html").read_text(encoding="utf-8")
    assert "hello from the kernel 42" in page
    assert "fast mode in kernel: True" in page
    assert "<title>00 · A tiny lesson</title>" in page


def test_widget_state_is_embedded_with_the_slider_value(tiny_site):
    page = (tiny_site[0] / "00_tiny.html").read_text(encoding="utf-8")
    match = re.search(r'<script type="application/vnd\.jupyter\.widget-state\+json">(.*?)</script>', page, re.S)
    assert match, "no widget state in the page"
    state = json.loads(match.group(1))["state"]
    sliders = [m["state"] for m in state.values() if m["model_name"] == "IntSliderModel"]
    assert [(s["description"], s["value"]) for s in sliders] == [("steps", 7)]
    view = re.search(r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>', page, re.S)
    assert view and json.loads(view.group(1))["model_id"] in state
    # without JavaScript the panel's snapshot is shown instead
    assert re.search(r"<noscript>.*<code>steps = 7</code>.*</noscript>", page, re.S)


def test_a_sweep_panel_becomes_a_static_slider_over_every_value(tiny_site):
    page = (tiny_site[0] / "00_tiny.html").read_text(encoding="utf-8")
    panels = re.findall(r'<div class="dvae-static-slider".*?</small></div>', page, re.S)
    assert len(panels) == 1, "the score panel was not turned into a static slider"
    panel = panels[0]
    # (nbconvert rewrites the HTML: attributes may be reordered, ``hidden`` becomes ``hidden=""``)
    frames = re.findall(r'<div class="dvae-frame" data-label="([^"]*)"( hidden(?:="")?)?><img [^>]*src="data:image/png;'
                        r'base64,([^"]+)"', panel)
    assert [(label, bool(hidden)) for label, hidden, _ in frames] == [("1", True), ("4", False)]   # starts at beta = 4
    assert frames[0][2] != frames[1][2], "the two values show the same picture"
    assert 'max="1"' in panel and 'value="1"' in panel and "<output>4</output>" in panel
    assert "dvae-static-slider" in site.SLIDER_SCRIPT and site.SLIDER_SCRIPT.strip() in page
    # the static snapshot for readers without JavaScript stays, at the final value
    assert re.search(r"<noscript>.*<code>beta = 4</code>.*</noscript>", page, re.S)
    assert site.STATIC_SLIDER not in page             # the frames are not also dumped as JSON
    from dvae_tutorial import widgets

    assert site.STATIC_SLIDER == widgets.STATIC_SLIDER_MIME   # the site reads what the panels write


def test_pages_link_the_jupyterlab_styles_written_once_for_the_site(tiny_site):
    out = tiny_site[0]
    css = (out / site.STATIC / site.LAB_CSS).read_text(encoding="utf-8")
    assert "--jp-border-width:" in css and ".jp-OutputArea" in css           # the theme and the layout rules
    page = (out / "00_tiny.html").read_text(encoding="utf-8")
    assert f'<link href="{site.STATIC}/{site.LAB_CSS}" rel="stylesheet"/>' in page
    assert "--jp-border-width:" not in page                                   # not inlined again
    assert "a.anchor-link" in page                                            # the template's own rules stay


def test_static_slider_html_starts_where_asked_and_rejects_mismatched_frames():
    frames = {"name": "γ", "labels": ["10", "40", "100"], "index": 0, "frames": ["<p>a</p>", "<p>b</p>", "<p>c</p>"]}
    text = site.static_slider_html(frames)
    assert re.findall(r'data-label="(\d+)"( hidden)?><p>(\w)</p>', text) == [
        ("10", "", "a"), ("40", " hidden", "b"), ("100", " hidden", "c")]
    assert "<output>100</output>" in site.static_slider_html(frames, index=2)
    assert 'value="2"' in site.static_slider_html(frames, index=9)          # clipped to the last value
    with pytest.raises(ValueError, match="one label per frame, got 2 labels and 3 frames"):
        site.static_slider_html(dict(frames, labels=["10", "40"]))


def _png(seed: int, size: int = 120) -> bytes:
    """A smooth, noisy RGB picture as PNG (PNG compresses it badly, as it does matplotlib's anti-aliased plots)."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, size)[None, :, None] * np.ones((size, 1, 3))
    pixels = np.clip(ramp + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def test_images_are_recompressed_as_webp_and_the_size_is_checked(tmp_path):
    import base64

    from nbformat.v4 import new_output

    png = _png(0)
    b64 = base64.b64encode(png).decode()
    frames = {"name": "beta", "labels": ["1"], "index": 0, "slider": "s1",
              "frames": [f'<img src="data:image/png;base64,{base64.b64encode(_png(1)).decode()}">']}
    cell = new_code_cell("x", outputs=[new_output("display_data", data={"image/png": b64, "text/plain": "fig"}),
                                       new_output("display_data", data={site.STATIC_SLIDER: frames})])
    nb = new_notebook(cells=[new_markdown_cell("# 00 · Images"), cell])
    nb.metadata["widgets"] = {site.WIDGET_STATE: {"version_major": 2, "version_minor": 0, "state": {
        "img1": {"model_name": "ImageModel", "model_module": "@jupyter-widgets/controls", "state": {"format": "png"},
                 "buffers": [{"path": ["value"], "encoding": "base64", "data": base64.b64encode(_png(2)).decode()}]}}}}
    plain = site.render_page(nbformat.from_dict(json.loads(json.dumps(nb))), "Images", "")
    small = site.render_page(nb, "Images", "", image_quality=60)
    assert plain.count('src="data:image/png;base64,') == 2 and "data:image/webp" not in plain
    assert 'src="data:image/png;base64,' not in small and small.count('src="data:image/webp;base64,') == 2
    assert len(small) < 0.7 * len(plain)
    state = nb.metadata["widgets"][site.WIDGET_STATE]["state"]["img1"]
    assert state["state"]["format"] == "webp" and base64.b64decode(state["buffers"][0]["data"])[8:12] == b"WEBP"
    with pytest.raises(ValueError, match="1..100"):
        site.webp_bytes(png, 0)

    (tmp_path / "a.html").write_text(small, encoding="utf-8")
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "x.js").write_bytes(b"0" * 1000)
    size = site.check_site_size(tmp_path, max_mb=1)
    assert size == len(small.encode()) + 1000
    with pytest.raises(site.SiteSizeError, match=r"more than the allowed 0\.001 MB \(largest pages: a\.html"):
        site.check_site_size(tmp_path, max_mb=0.001)


def test_docs_option_means_full_mode_into_docs_with_compression_and_a_size_limit():
    import argparse

    parse = lambda argv: site.resolve_arguments(site.add_arguments(argparse.ArgumentParser()).parse_args(argv))  # noqa: E731
    args = parse(["--docs"])
    assert (args.full, args.out, args.image_quality, args.max_size_mb) == (True, Path("docs/lessons"), 80, 15.0)
    args = parse(["--docs", "--image-quality", "50", "--out", "elsewhere", "02"])
    assert (args.out, args.image_quality, args.lessons) == (Path("elsewhere"), 50, ["02"])
    assert parse([]).image_quality is None and not parse([]).full


def test_every_script_is_a_local_file_of_the_site(tiny_site):
    out = tiny_site[0]
    pages = sorted(out.glob("*.html"))
    assert {p.name for p in pages} == {"index.html", "00_tiny.html"}
    sources = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        sources += [s["src"] for s in parse(page).scripts if s.get("src")]
        # URLs the page's own scripts load later (the widget renderer is added on DOMContentLoaded)
        sources += re.findall(r"widgetRendererSrc = '([^']*)'", text)
        assert not re.search(r"""(src=|import\()\s*["']?https?:""", text), f"{page.name} loads from the network"
    assert sources, "the lesson page loads no script at all"
    for src in sources:
        assert not re.match(r"^([a-z]+:)?//", src), f"script {src!r} is not a relative path"
        assert (out / src).is_file(), f"script {src!r} is not in the site"
    names = {Path(s).name for s in sources}
    assert {"require.js", "embed-amd.js", "tex-svg-full.js"} <= names
    for folder in ("requirejs", "html-manager", "mathjax"):
        assert (out / site.STATIC / folder / "LICENSE").is_file()


def test_full_mode_removes_the_flag_from_the_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("DVAE_TUTORIAL_FAST", "1")
    write_lesson(tmp_path / "src", "03_flag.ipynb", [new_markdown_cell("## Flag"), new_code_cell(SHOW_FLAG)])
    site.build_site(tmp_path / "src", tmp_path / "out", fast=False, timeout=120)
    assert "fast mode in kernel: False" in (tmp_path / "out" / "03_flag.html").read_text(encoding="utf-8")


def test_a_failing_notebook_is_named_with_its_cell_and_the_others_are_built(tmp_path, capsys):
    src = tmp_path / "src"
    write_lesson(src, "01_fine.ipynb", [new_markdown_cell("# 01 · Fine"), new_code_cell("print('fine')")])
    write_lesson(src, "02_broken.ipynb", [
        new_markdown_cell("# 02 · Broken"),
        new_code_cell("x = 1"),
        new_code_cell("raise ValueError('the answer is missing')"),
        new_code_cell("print('never' + ' runs')"),
    ])
    code = site.main(["--src", str(src), "--out", str(tmp_path / "out"), "--timeout", "120"])
    captured = capsys.readouterr()
    assert code == 1
    assert re.search(r"02_broken\.ipynb: cell 3 of 4 \(`raise ValueError\(.*`\): ValueError: the answer is missing",
                     captured.err), captured.err
    assert "01_fine" not in captured.err
    assert re.search(r"\[1/2\] 01_fine\.ipynb +ok +\d+\.\d s", captured.out), captured.out
    assert re.search(r"\[2/2\] 02_broken\.ipynb +FAILED", captured.out), captured.out
    out = tmp_path / "out"
    assert "fine" in (out / "01_fine.html").read_text(encoding="utf-8")
    broken = (out / "02_broken.html").read_text(encoding="utf-8")
    assert "the answer is missing" in broken and "never runs" not in broken   # stopped at the error
    index = (out / "index.html").read_text(encoding="utf-8")
    assert '<a href="01_fine.html">01 · Fine</a>' in index and "failed: cell 3 of 4" in index
    with pytest.raises(site.SiteBuildError, match=r"02_broken\.ipynb: cell 3 of 4"):
        site.build_site(src, tmp_path / "again", select=["02"], timeout=120)


def test_selection_names_one_lesson_or_explains(tmp_path):
    for name in ("00_a.ipynb", "01_b.ipynb", "notes.ipynb"):
        write_lesson(tmp_path, name, [new_markdown_cell("# x")])
    assert [p.name for p in site.lesson_notebooks(tmp_path)] == ["00_a.ipynb", "01_b.ipynb"]
    assert [p.name for p in site.lesson_notebooks(tmp_path, ["01", "00_a"])] == ["00_a.ipynb", "01_b.ipynb"]
    with pytest.raises(ValueError, match=r"'07' does not name exactly one lesson.*00_a\.ipynb, 01_b\.ipynb"):
        site.lesson_notebooks(tmp_path, ["07"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        site.lesson_notebooks(tmp_path / "missing")
