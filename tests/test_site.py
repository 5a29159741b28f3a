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
    """One lesson (heading, a print, the fast flag, an IntSlider) built in fast mode."""
    root = tmp_path_factory.mktemp("site")
    write_lesson(root / "src", "00_tiny.ipynb", [
        new_markdown_cell("# 00 · A tiny lesson\n\nSome text and a formula $\\beta > 1$."),
        new_code_cell("print('hello from the kernel', 6 * 7)"),
        new_code_cell(SHOW_FLAG),
        new_code_cell(SLIDER),
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
