"""The lessons as a browsable, offline HTML site: run every notebook, convert it, write an index.

    python -m dvae_tutorial.site                      # fast mode, every lesson -> site/
    python -m dvae_tutorial.site --full --out public  # full mode
    python -m dvae_tutorial.site 02 03                # only lessons 02 and 03 (the index lists all)

Each lesson ``NN_name.ipynb`` of ``src`` is executed in a fresh kernel (fast mode sets
``DVAE_TUTORIAL_FAST=1`` in the kernel's environment, full mode removes it; see ``config``) and
written to ``out/NN_name.html``; ``out/index.html`` lists the lessons in order under the first
markdown heading of each.

The pages work with no network access.  The scripts they load are copies shipped in
``dvae_tutorial/site_assets`` (see its SOURCES.txt) and copied to ``out/_static``:
``require.js``, the ipywidgets renderer (``@jupyter-widgets/html-manager``, which draws every
widget from the state embedded in the page) and MathJax for the formulas.  Without JavaScript, each
widget panel is replaced by a static snapshot of what it showed at the end of the run (its images,
texts and slider values, read from the same embedded state: the state at the end, also for a panel
that a later cell changed), inside ``<noscript>``.

A panel with a slider over trained runs (β, γ, C: ``widgets.SweepExplorer``, ``widgets.ScoreExplorer``)
works on the page without a kernel: the kernels run with ``DVAE_TUTORIAL_STATIC_PAGE=1``, so each such panel
hands over its pictures for every slider value when displayed, and the page shows them stacked under an
HTML range input that switches them (a few lines of script in the page; ``add_static_sliders``).

``--image-quality Q`` re-encodes every PNG of the pages as WebP at quality Q and ``--max-size-mb M`` fails
the build when the site is larger; ``--docs`` is the repository's documentation build (full mode, WebP 80,
at most 15 MB, into docs/lessons)::

    python -m dvae_tutorial html --docs           # about an hour of CPU: every lesson in full mode

A notebook that fails is reported by name and cell; its page is still written (with the traceback
where the cell failed), the other lessons are still built, and ``build_site`` then raises
``SiteBuildError`` (``main`` returns 1).
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import config

LESSON_NAME = re.compile(r"^\d\d_[^/]+\.ipynb$")
ASSETS = Path(__file__).with_name("site_assets")
STATIC = "_static"                     # the site's folder for the copied assets
REQUIRE_JS = "requirejs/require.js"
WIDGET_RENDERER_JS = "html-manager/embed-amd.js"
MATHJAX_JS = "mathjax/tex-svg-full.js"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
STATIC_SLIDER = "application/vnd.dvae-tutorial.static-slider+json"     # = widgets.STATIC_SLIDER_MIME
LAB_CSS = "jupyterlab/lab.css"        # nbconvert's lab styles, shared by the pages of a site
LAB_CSS_FILES = ("static/index.css", "static/theme-light.css")
DOCS_OUT = Path("docs/lessons")       # the repository's full-mode build of the lessons (``--docs``)
DOCS_IMAGE_QUALITY = 80
DOCS_MAX_MB = 15.0


class SiteSizeError(RuntimeError):
    """The built site is larger than the allowed size."""


class SiteBuildError(RuntimeError):
    """One or more notebooks failed; ``failures`` holds their ``PageResult``."""

    def __init__(self, failures: list["PageResult"], out: Path):
        self.failures = failures
        lines = [f"{len(failures)} notebook(s) failed (their pages, with the error, are in {out}):"]
        lines += [f"  {f.notebook.name}: {f.error}" for f in failures]
        super().__init__("\n".join(lines))


@dataclass
class PageResult:
    """What happened to one notebook: its page (None if none was written), time, and error if any."""

    notebook: Path
    title: str
    page: Path | None = None
    seconds: float = 0.0
    error: str | None = None            # "cell 12 of 27 (`run = ...`): ValueError: ..." when it failed

    @property
    def ok(self) -> bool:
        return self.error is None


# --- finding and naming the lessons -----------------------------------------------------------------

def lesson_notebooks(src, select=None) -> list[Path]:
    """The lessons ``NN_*.ipynb`` of ``src``, sorted; ``select`` keeps those named by number, stem or file.

    ``select``: e.g. ``["02", "03_capacity_annealing", "06_evaluation.ipynb"]``; each entry must
    match exactly one lesson.
    """
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"lessons folder {src} does not exist; pass the folder holding NN_name.ipynb "
                                f"(e.g. notebooks)")
    lessons = sorted(p for p in src.iterdir() if LESSON_NAME.match(p.name))
    if not lessons:
        raise FileNotFoundError(f"no lessons in {src}: expected notebooks named NN_name.ipynb (00_intro.ipynb, ...)")
    if not select:
        return lessons
    chosen = []
    for key in select:
        key = str(key)
        hits = [p for p in lessons if key in (p.name, p.stem, p.name[:2])]
        if len(hits) != 1:
            names = ", ".join(p.name for p in lessons)
            raise ValueError(f"{key!r} does not name exactly one lesson of {src}; give its number (02), "
                             f"stem or file name; the lessons are {names}")
        if hits[0] not in chosen:
            chosen.append(hits[0])
    return sorted(chosen)


def lesson_title(nb) -> str:
    """The text of the notebook's first markdown heading (``# 02 · β-VAE`` -> ``02 · β-VAE``)."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            match = re.match(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", line)
            if match:
                return match.group(1)
    return ""


# --- running ------------------------------------------------------------------------------------------

def _describe_cell(nb, index: int) -> str:
    cell = nb.cells[index]
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    first = first if len(first) <= 60 else first[:57] + "..."
    return f"cell {index + 1} of {len(nb.cells)} (`{first}`)"


def execute_notebook(nb, path: Path, fast: bool, timeout: int) -> str | None:
    """Run ``nb`` (read from ``path``) in place, in ``path``'s folder; None, or what failed and where.

    Stops at the first failing cell, as nbclient does; the widget state of the cells that ran is
    kept in ``nb.metadata`` either way, so the page still shows their panels.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    current = {"index": None}

    def on_cell_start(cell, cell_index):
        current["index"] = cell_index

    kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, on_cell_start=on_cell_start,
                            resources={"metadata": {"path": str(path.parent)}})
    where = lambda: "" if current["index"] is None else _describe_cell(nb, current["index"]) + ": "  # noqa: E731
    # the kernel's own stderr (start-up warnings) goes to a file, not between the progress lines
    with tempfile.TemporaryFile() as kernel_log:
        try:
            client.execute(env=config.kernel_environment(fast, static_page=True), stderr=kernel_log)
            return None
        except CellExecutionError as err:
            message = f"{where()}{err.ename}: {err.evalue}"
        except CellTimeoutError:
            message = f"{where()}did not finish within {timeout} s (raise --timeout, or look for a cell that waits)"
        except DeadKernelError:
            kernel_log.seek(0)
            tail = " | ".join(kernel_log.read().decode(errors="replace").strip().splitlines()[-3:])
            message = f"{where()}the kernel died (out of memory?); its last words: {tail or '(none)'}"
        except Exception as err:   # kernel not found, failed to start, ...: still a clear line per notebook
            message = f"{where()}{type(err).__name__}: {err}"
    client.set_widgets_metadata()
    return message


# --- static snapshots of widget panels (shown without JavaScript) -------------------------------------

def _model_id(ref) -> str | None:
    return ref[len("IPY_MODEL_"):] if isinstance(ref, str) and ref.startswith("IPY_MODEL_") else None


def _snapshot(model_id: str, models: dict, depth: int = 0) -> str:
    """HTML for one widget model as it was when the notebook ran: images, texts, slider values."""
    model = models.get(model_id)
    if model is None or depth > 20:
        return ""
    name, state = model.get("model_name", ""), model.get("state", {})
    description = html.escape(str(state.get("description") or ""))
    children = [c for c in (_model_id(r) for r in state.get("children") or []) if c]
    if children:
        direction = "row" if name.startswith("HBox") else "column"
        inner = "".join(_snapshot(c, models, depth + 1) for c in children)
        return f'<div style="display:flex;flex-direction:{direction};gap:8px;align-items:flex-start">{inner}</div>'
    if name == "ImageModel":
        data = next((b["data"] for b in model.get("buffers", [])
                     if b.get("path") == ["value"] and b.get("encoding", "base64") == "base64"), None)
        fmt = html.escape(str(state.get("format") or "png"))
        return f'<img alt="{description or "panel image"}" src="data:image/{fmt};base64,{data}">' if data else ""
    if name in ("HTMLModel", "HTMLMathModel"):
        return f"<div>{state.get('value', '')}</div>"
    if name == "LabelModel":
        return f"<div>{html.escape(str(state.get('value', '')))}</div>"
    if name.endswith("SliderModel") or name in ("DropdownModel", "ToggleButtonsModel", "RadioButtonsModel"):
        if "_options_labels" in state and isinstance(state.get("index"), int):
            value = state["_options_labels"][state["index"]]
        else:
            value = state.get("value")
        return f"<div><code>{description} = {html.escape(str(value))}</code></div>"
    return ""


def add_static_snapshots(nb) -> int:
    """After every widget output of ``nb``, add a ``<noscript>`` copy of it built from the embedded state.

    Returns the number of snapshots added.  Pages opened with JavaScript never show them.
    """
    models = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    added = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            outputs.append(output)
            view = output.get("data", {}).get(WIDGET_VIEW)
            if not view or view.get("model_id") not in models:
                continue
            body = _snapshot(view["model_id"], models)
            if not body:
                continue
            snapshot = ("<noscript><p><em>The interactive panel needs JavaScript; this is what it showed at the end "
                        f"of the lesson's run:</em></p>{body}</noscript>")
            outputs.append({"output_type": "display_data", "metadata": {}, "data": {"text/html": snapshot}})
            added += 1
        cell.outputs = outputs
    return added


# --- sliders that switch precomputed pictures (no kernel) --------------------------------------------

def static_slider_html(frames: dict, index: int | None = None) -> str:
    """An HTML range input over ``frames["frames"]`` (one HTML block per slider value), showing one at a time.

    ``frames``: what a panel emits under ``STATIC_SLIDER`` (``widgets.StaticSliderPanel.static_frames``);
    ``index``: the position to show first (default: the one the panel showed when displayed).  The block is
    hidden until the page's script (``SLIDER_SCRIPT``) wires it up, so readers without JavaScript see the
    ``<noscript>`` snapshot only.
    """
    labels, blocks = list(frames["labels"]), list(frames["frames"])
    if not blocks or len(labels) != len(blocks):
        raise ValueError(f"a static slider needs one label per frame, got {len(labels)} labels and {len(blocks)} frames")
    index = frames.get("index", 0) if index is None else index
    index = min(max(int(index), 0), len(blocks) - 1)
    name = html.escape(str(frames.get("name", "value")))
    body = "".join(f'<div class="dvae-frame" data-label="{html.escape(str(label))}"{"" if k == index else " hidden"}>'
                   f"{block}</div>" for k, (label, block) in enumerate(zip(labels, blocks)))
    return (f'<div class="dvae-static-slider" style="display:none">'
            f'<label class="dvae-slider-label">{name} '
            f'<input type="range" min="0" max="{len(blocks) - 1}" step="1" value="{index}" '
            f'aria-label="{name}: {len(blocks)} trained values"> '
            f'<output>{html.escape(str(labels[index]))}</output></label>'
            f'<div class="dvae-frames">{body}</div>'
            f'<small>One picture per trained value of {name}, computed when this page was built: the slider '
            f'switches between them, no Python runs behind this page.</small></div>')


def add_static_sliders(nb) -> int:
    """Replace every panel output that carries its frames (``STATIC_SLIDER``) by a ``static_slider_html`` block.

    The block starts at the value the panel's slider had at the end of the run (read from the embedded
    widget state, as the snapshots are).  Run after ``add_static_snapshots``, which keys on the widget view.
    Returns the number of panels replaced.
    """
    models = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    replaced = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            frames = output.get("data", {}).get(STATIC_SLIDER)
            if not frames:
                continue
            index = models.get(frames.get("slider"), {}).get("state", {}).get("index")
            output["data"] = {"text/html": static_slider_html(frames, index if isinstance(index, int) else None)}
            replaced += 1
    return replaced


SLIDER_SCRIPT = r"""
<script>
// the static sliders (site.static_slider_html): the range input shows one precomputed frame at a time
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('.dvae-static-slider').forEach(function (panel) {
    var input = panel.querySelector('input[type=range]');
    var output = panel.querySelector('output');
    var frames = panel.querySelectorAll('.dvae-frames > .dvae-frame');
    function show() {
      var k = Number(input.value);
      frames.forEach(function (frame, i) { frame.hidden = i !== k; });
      output.textContent = frames[k].getAttribute('data-label');
    }
    input.addEventListener('input', show);
    show();
    panel.style.display = '';
  });
});
</script>
"""


# --- smaller images (the docs build) ---------------------------------------------------------------------

DATA_URI_PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def webp_bytes(png: bytes, quality: int) -> bytes:
    """An image's bytes (PNG) re-encoded as lossy WebP at ``quality`` (1-100)."""
    from PIL import Image

    if not 1 <= int(quality) <= 100:
        raise ValueError(f"image quality must be in 1..100 (WebP's scale), got {quality}")
    image = Image.open(io.BytesIO(png))
    image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    buf = io.BytesIO()
    image.save(buf, format="WEBP", quality=int(quality), method=6)
    return buf.getvalue()


def compress_data_uris(text: str, quality: int) -> str:
    """Every ``data:image/png;base64,...`` in ``text`` re-encoded as a WebP data URI (kept PNG if not smaller)."""
    def swap(match):
        png = base64.b64decode(match.group(1))
        webp = webp_bytes(png, quality)
        return "data:image/webp;base64," + base64.b64encode(webp).decode("ascii") if len(webp) < len(png) \
            else match.group(0)

    return DATA_URI_PNG.sub(swap, text)


def compress_widget_images(nb, quality: int) -> int:
    """Re-encode the PNG images of ``nb``'s embedded widget state as WebP; returns how many were re-encoded."""
    models = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    done = 0
    for model in models.values():
        if model.get("model_name") != "ImageModel" or (model.get("state", {}).get("format") or "png") != "png":
            continue
        for buffer in model.get("buffers", []):
            if buffer.get("path") == ["value"] and buffer.get("encoding", "base64") == "base64":
                webp = webp_bytes(base64.b64decode(buffer["data"]), quality)
                buffer["data"] = base64.b64encode(webp).decode("ascii")
                model["state"]["format"] = "webp"
                done += 1
    return done


def site_size(out) -> int:
    """Bytes of every file under ``out``."""
    return sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())


def check_site_size(out, max_mb: float) -> int:
    """The site's size in bytes; raises ``SiteSizeError`` naming the largest pages when it exceeds ``max_mb``."""
    size = site_size(out)
    if size > max_mb * 1e6:
        pages = sorted(Path(out).rglob("*.html"), key=lambda p: p.stat().st_size, reverse=True)[:3]
        largest = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.1f} MB" for p in pages)
        raise SiteSizeError(f"the site in {out} takes {size / 1e6:.1f} MB, more than the allowed {max_mb:g} MB "
                            f"(largest pages: {largest}); lower --image-quality, or draw fewer/smaller figures")
    return size


# --- converting -----------------------------------------------------------------------------------------

# The lab template, with MathJax 3 (the vendored copy) instead of MathJax 2 from a CDN, without the
# Mermaid loader (a CDN import; no lesson draws Mermaid diagrams), and with links between lessons.
PAGE_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js_mathjax -%}
<script>
// ipywidgets typesets widget labels through MathJax 2's API (MathJax.Hub.Queue); MathJax 3 has none,
// so a small stand-in forwards those calls to MathJax 3 (before MathJax is ready they are dropped:
// its first typeset of the page covers whatever exists then).
function dvaeTypesetQueue() {
  Array.prototype.forEach.call(arguments, function (job) {
    if (Array.isArray(job) && job[0] === 'Typeset' && window.MathJax && window.MathJax.typesetPromise) {
      window.MathJax.typesetPromise(job[2] ? [job[2]] : undefined).catch(function (e) { console.warn(e); });
    }
  });
}
window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
        processEscapes: true, processEnvironments: true, tags: 'ams'},
  svg: {fontCache: 'global'},
  startup: {ready: function () { MathJax.startup.defaultReady(); MathJax.Hub = {Queue: dvaeTypesetQueue}; }},
  Hub: {Queue: dvaeTypesetQueue}
};
</script>
<script defer src="{{ resources.mathjax_url }}"></script>
<style>
nav.dvae-nav {display: flex; justify-content: space-between; gap: 1em; padding: 0.6em 0;
              font-family: var(--jp-ui-font-family); font-size: 0.95em;}
nav.dvae-nav a {text-decoration: none;}
.jupyter-widgets {font-family: var(--jp-ui-font-family);}   /* as in JupyterLab, not the browser's serif */
.dvae-static-slider {font-family: var(--jp-ui-font-family); margin: 0.3em 0;}
.dvae-static-slider input[type=range] {width: 16em; vertical-align: middle;}
</style>
{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
{%- if resources.dvae_lab_css %}<link rel="stylesheet" href="{{ resources.dvae_lab_css }}">{% endif -%}
{%- endblock extra_css -%}
{%- block body_header -%}
{{ super() }}
{{ resources.dvae_nav }}
{%- endblock body_header -%}
{% block body_footer %}
{{ resources.dvae_nav }}
{{ resources.dvae_slider_script }}
{{ super() }}
{% endblock body_footer %}
"""


def _exporter(shared_css: bool = False):
    """nbconvert's lab exporter with the site's template; ``shared_css``: leave nbconvert's JupyterLab styles out of
    the page (the page links ``_static/jupyterlab/lab.css`` instead, written once per site by ``write_lab_css``)."""
    import markupsafe
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    class SiteExporter(HTMLExporter):
        def _init_resources(self, resources):
            resources = super()._init_resources(resources)
            if shared_css:
                include = resources["include_css"]
                resources["include_css"] = lambda name: markupsafe.Markup("") if name in LAB_CSS_FILES else include(name)
            return resources

    return SiteExporter(template_name="lab", extra_loaders=[DictLoader({"dvae_site.html.j2": PAGE_TEMPLATE})],
                        template_file="dvae_site.html.j2",
                        require_js_url=f"{STATIC}/{REQUIRE_JS}",
                        widget_renderer_url=f"{STATIC}/{WIDGET_RENDERER_JS}",
                        mathjax_url=f"{STATIC}/{MATHJAX_JS}")


def write_lab_css(out: Path) -> Path:
    """``out/_static/jupyterlab/lab.css``: nbconvert's JupyterLab styles, which every page would otherwise inline
    (250 KB each)."""
    env = _exporter().environment
    target = Path(out) / STATIC / LAB_CSS
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(env.loader.get_source(env, name)[0] for name in LAB_CSS_FILES), encoding="utf-8")
    return target


def _nav(previous: Path | None, following: Path | None) -> str:
    """Links to the previous lesson, the index and the next lesson."""
    def link(path, text):
        return f'<a href="{html.escape(path.stem)}.html">{text}</a>' if path else "<span></span>"

    left = link(previous, f"&larr; {html.escape(previous.stem)}" if previous else "")
    right = link(following, f"{html.escape(following.stem)} &rarr;" if following else "")
    return f'<nav class="dvae-nav">{left}<a href="index.html">all lessons</a>{right}</nav>'


def render_page(nb, title: str, nav: str, image_quality: int | None = None, shared_css: bool = False) -> str:
    """The HTML page of an executed notebook (assets referenced under ``_static/``).

    ``image_quality``: re-encode every PNG (outputs, panels, widget state) as WebP at this quality (1-100);
    None keeps the PNGs.  ``shared_css``: link ``_static/jupyterlab/lab.css`` (see ``write_lab_css``) instead of
    inlining nbconvert's JupyterLab styles.
    """
    nb.metadata["title"] = title or nb.metadata.get("title", "")
    if image_quality is not None:
        compress_widget_images(nb, image_quality)
    add_static_snapshots(nb)
    add_static_sliders(nb)
    resources = {"dvae_nav": nav, "dvae_slider_script": SLIDER_SCRIPT,
                 "dvae_lab_css": f"{STATIC}/{LAB_CSS}" if shared_css else ""}
    body, _ = _exporter(shared_css).from_notebook_node(nb, resources=resources)
    return body if image_quality is None else compress_data_uris(body, image_quality)


def copy_assets(out: Path) -> None:
    """Copy the vendored scripts and their licences to ``out/_static``."""
    target = out / STATIC
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ASSETS, target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))


def write_index(out: Path, lessons: list[Path], titles: dict, results: dict, fast: bool) -> Path:
    """``out/index.html``: every lesson in order, linked where its page exists, with this build's outcome."""
    rows = []
    for path in lessons:
        page = out / f"{path.stem}.html"
        title = html.escape(titles.get(path, "") or path.stem)
        link = f'<a href="{html.escape(page.name)}">{title}</a>' if page.exists() else title
        result = results.get(path)
        if result is None:
            note = '<span class="note">(page from an earlier build)</span>' if page.exists() else \
                '<span class="note">(not built)</span>'
        elif result.ok:
            note = f'<span class="note">ran in {result.seconds:.0f} s</span>'
        else:
            note = f'<span class="failed">failed: {html.escape(result.error)}</span>'
        rows.append(f"<li>{link} {note}</li>")
    mode = ("fast mode (DVAE_TUTORIAL_FAST=1: fewer training steps and smaller samples, so numbers and "
            "pictures are rougher than in a full run)" if fast else "full mode")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>dvae-tutorial: lessons</title>
<style>
body {{font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 46em; margin: 2em auto;
       padding: 0 1em; line-height: 1.5; color: #222;}}
ul.lessons {{list-style: none; padding-left: 0;}}
li {{margin: 0.4em 0;}}
.note {{color: #777; font-size: 0.85em; margin-left: 0.5em;}}
.failed {{color: #b00; font-size: 0.85em; margin-left: 0.5em;}}
</style>
</head>
<body>
<h1>dvae-tutorial: disentangled representation learning, hands-on</h1>
<p>The lessons in order, each run once to build these pages, with all their outputs. The sliders over trained
runs (β, γ, C) switch between pictures computed when the pages were built; the other panels show what they
showed at the end of the run: their sliders move, but nothing recomputes the pictures, since no Python runs
behind a static page. Open the notebooks in JupyterLab to explore. Built in {mode}.</p>
<ul class="lessons">
{chr(10).join(rows)}
</ul>
</body>
</html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def build_site(src="notebooks", out="site", fast: bool = True, timeout: int = 600, select=None,
               image_quality: int | None = None, max_mb: float | None = None) -> Path:
    """Run the lessons of ``src`` and write their pages, ``index.html`` and the assets to ``out``.

    ``fast``: run the kernels with ``DVAE_TUTORIAL_FAST=1`` (else without it); ``timeout``: seconds
    per cell; ``select``: lessons to build (numbers, stems or file names; default every lesson);
    ``image_quality``: re-encode the pages' PNGs as WebP at this quality (None: keep PNG); ``max_mb``:
    raise ``SiteSizeError`` after the build when ``out`` holds more than this many MB.
    Prints one line per notebook with its time.  Returns the path of ``index.html``; raises
    ``SiteBuildError`` naming every failed notebook and cell after writing everything it could.
    """
    import nbformat

    if image_quality is not None and not 1 <= int(image_quality) <= 100:
        raise ValueError(f"image quality must be in 1..100 (WebP's scale), got {image_quality}")
    src, out = Path(src), Path(out)
    lessons = lesson_notebooks(src)
    chosen = lesson_notebooks(src, select)
    out.mkdir(parents=True, exist_ok=True)
    copy_assets(out)
    write_lab_css(out)
    notebooks = {path: nbformat.read(path, as_version=4) for path in lessons}
    titles = {path: lesson_title(nb) for path, nb in notebooks.items()}
    results: dict[Path, PageResult] = {}
    mode = "fast" if fast else "full"
    print(f"building {len(chosen)} lesson(s) from {src} in {mode} mode -> {out}", flush=True)
    width = max(len(p.name) for p in chosen)
    for number, path in enumerate(chosen, start=1):
        print(f"[{number}/{len(chosen)}] {path.name:<{width}} ", end="", flush=True)
        start = time.perf_counter()
        nb = notebooks[path]
        result = PageResult(path, titles[path])
        result.error = execute_notebook(nb, path, fast, timeout)
        position = lessons.index(path)
        nav = _nav(lessons[position - 1] if position > 0 else None,
                   lessons[position + 1] if position + 1 < len(lessons) else None)
        try:
            page = out / f"{path.stem}.html"
            page.write_text(render_page(nb, titles[path], nav, image_quality, shared_css=True), encoding="utf-8")
            result.page = page
        except Exception as err:   # a page that cannot be converted is a failure of that notebook too
            problem = f"converting to HTML: {type(err).__name__}: {err}"
            result.error = f"{result.error}; {problem}" if result.error else problem
        result.seconds = time.perf_counter() - start
        results[path] = result
        print(f"{'ok' if result.ok else 'FAILED'} {result.seconds:6.1f} s" + ("" if result.ok else f"  {result.error}"),
              flush=True)
    index = write_index(out, lessons, titles, results, fast)
    total = sum(r.seconds for r in results.values())
    print(f"{sum(r.ok for r in results.values())}/{len(results)} built in {total:.0f} s; open {index}", flush=True)
    failures = [r for r in results.values() if not r.ok]
    if failures:
        raise SiteBuildError(failures, out)
    if max_mb is not None:
        size = check_site_size(out, max_mb)
        print(f"site size {size / 1e6:.1f} MB (allowed {max_mb:g} MB)", flush=True)
    return index


DESCRIPTION = ("Run every lesson notebook and write a browsable HTML site that works offline: one page per lesson "
               "(outputs, formulas and the widget panels as they were when the lesson ran) and index.html listing "
               "them in order.")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The site's options, for this module's ``main`` or a sub-command of ``python -m dvae_tutorial``."""
    parser.add_argument("lessons", nargs="*", metavar="LESSON",
                        help="lessons to build, by number (02), stem or file name [all]; the index lists every lesson")
    parser.add_argument("--src", type=Path, default=Path("notebooks"), help="folder of the lessons [notebooks]")
    parser.add_argument("--out", type=Path, default=Path("site"), help="folder to write the site to [site]")
    parser.add_argument("--full", action="store_true",
                        help="run the lessons in full mode (default: fast mode, DVAE_TUTORIAL_FAST=1)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell [600]")
    parser.add_argument("--image-quality", type=int, default=None, metavar="Q",
                        help="re-encode the pages' PNG images as WebP at quality Q, 1-100 [keep PNG]")
    parser.add_argument("--max-size-mb", type=float, default=None, metavar="MB",
                        help="fail when the site takes more than MB megabytes [no limit]")
    parser.add_argument("--docs", action="store_true",
                        help=f"the repository's docs build: --full --out {DOCS_OUT} --image-quality "
                             f"{DOCS_IMAGE_QUALITY} --max-size-mb {DOCS_MAX_MB:g} (about an hour of CPU)")
    return parser


def resolve_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """``--docs`` filled in: full mode, ``docs/lessons``, WebP at quality 80, at most 15 MB (explicit options win)."""
    if args.docs:
        args.full = True
        if args.out == Path("site"):
            args.out = DOCS_OUT
        args.image_quality = DOCS_IMAGE_QUALITY if args.image_quality is None else args.image_quality
        args.max_size_mb = DOCS_MAX_MB if args.max_size_mb is None else args.max_size_mb
    return args


def run(args: argparse.Namespace) -> int:
    """Build the site for parsed ``args``; 0 when every lesson ran, 1 when one failed, 2 for bad arguments."""
    args = resolve_arguments(args)
    try:
        build_site(args.src, args.out, fast=not args.full, timeout=args.timeout, select=args.lessons or None,
                   image_quality=args.image_quality, max_mb=args.max_size_mb)
    except (SiteBuildError, SiteSizeError) as err:
        print(err, file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as err:
        print(f"site: {err}", file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dvae_tutorial.site", description=DESCRIPTION)
    return run(add_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
