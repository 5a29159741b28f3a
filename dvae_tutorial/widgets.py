"""Interactive panels (ipywidgets) of the course.

Each panel is a small class: the sliders, what they drive, and an ``image()`` (or similar) method
that computes what the panel shows, so tests and nbval run the panels without a browser.
"""
from __future__ import annotations

import base64
import html
import io

import numpy as np

from .models import ACTIVE_KL, active_latents
from .plots import TRAVERSAL_LIMIT, as_numpy_images

# A panel with a slider over trained runs (beta, gamma, C, ...) can also hand over what it shows for EVERY
# slider value, under this MIME type next to the widget view when it is displayed; the HTML site
# (``site.add_static_sliders``) turns it into a slider that switches these precomputed pictures in the
# browser, with no kernel.  JupyterLab ignores the type (it renders the widget view).
STATIC_SLIDER_MIME = "application/vnd.dvae-tutorial.static-slider+json"


def png_bytes(image: np.ndarray, zoom: int = 4) -> bytes:
    """A (H, W) or (H, W, 3) image in [0, 1] as PNG bytes, enlarged ``zoom`` times (nearest)."""
    from PIL import Image

    img = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    img = np.kron(img, np.ones((zoom, zoom) + (1,) * (img.ndim - 2), dtype=np.float32))
    buf = io.BytesIO()
    Image.fromarray((img * 255).round().astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


class FactorExplorer:
    """One slider per generative factor; the sprite for the chosen classes is rendered live.

    Example::

        explorer = FactorExplorer(data.DSprites())
        explorer.widget          # display it in a notebook
        explorer.set(orientation=10)
        explorer.image()         # (H, W) numpy image of the current sprite
    """

    def __init__(self, dataset, start=None, zoom: int = 4):
        import ipywidgets as w

        self.dataset = dataset
        start = np.zeros(dataset.num_factors, dtype=np.int64) if start is None else np.asarray(start)
        self.sliders = {
            name: w.IntSlider(value=int(start[k]), min=0, max=size - 1, description=name,
                              continuous_update=True, style={"description_width": "80px"})
            for k, (name, size) in enumerate(zip(dataset.factor_names, dataset.factor_sizes))
        }
        self.zoom = zoom
        self.picture = w.Image(format="png", value=png_bytes(self.image(), zoom))
        self.readout = w.HTML(value=self.describe())
        for slider in self.sliders.values():
            slider.observe(self._update, names="value")
        self.widget = w.HBox([w.VBox(list(self.sliders.values()) + [self.readout]), self.picture])

    def factors(self) -> np.ndarray:
        """Current factor classes, (n_factors,) int64."""
        return np.array([s.value for s in self.sliders.values()], dtype=np.int64)

    def image(self) -> np.ndarray:
        """The sprite for the current sliders, numpy (H, W) (or (H, W, 3)) in [0, 1]."""
        return as_numpy_images(self.dataset.sample_observations_from_factors(self.factors()[None]))[0]

    def describe(self) -> str:
        values = self.dataset.factor_value_table(self.factors()[None])[0]
        index = int(self.dataset.index_of(self.factors()[None])[0])
        parts = [f"{n} = {v:.3g}" for n, v in zip(self.dataset.factor_names, values)]
        return f"<code>image index {index:,}</code><br>" + "<br>".join(parts)

    def set(self, **classes):
        """Move sliders by name, e.g. ``set(shape=2, orientation=10)``."""
        unknown = set(classes) - set(self.sliders)
        if unknown:
            raise ValueError(f"unknown factor(s) {sorted(unknown)}; sliders: {list(self.sliders)}")
        for name, value in classes.items():
            self.sliders[name].value = int(value)

    def _update(self, _change=None):
        self.picture.value = png_bytes(self.image(), self.zoom)
        self.readout.value = self.describe()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def figure_png(fig, dpi: int = 80) -> bytes:
    """A matplotlib figure as PNG bytes; the figure is closed (so a notebook does not draw it twice)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def png_data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:`` URI, for an ``<img src=...>`` that needs no file."""
    return "data:image/png;base64," + base64.b64encode(bytes(png)).decode("ascii")


def _panel_box(children, static_frames):
    """A VBox of ``children`` whose display also carries ``static_frames()`` under ``STATIC_SLIDER_MIME``.

    ``static_frames``: a function returning the frames dict (see ``StaticSliderPanel.static_frames``),
    or None to display a plain VBox.
    """
    import ipywidgets as w

    class PanelBox(w.VBox):
        def _repr_mimebundle_(self, **kwargs):
            bundle = super()._repr_mimebundle_(**kwargs)
            if static_frames is not None:
                bundle[STATIC_SLIDER_MIME] = static_frames()
            return bundle

    return PanelBox(children)


class StaticSliderPanel:
    """What a panel with one ``SelectionSlider`` (``self.slider``, named ``self.name``) needs to work on a
    static page: ``frame_html(value)``, the panel's pictures and text for one slider value, and
    ``static_frames()``, all of them at once.

    Subclasses build ``self.widget`` with ``self._box(children)``; when ``static`` is true (default:
    ``config.STATIC_PAGE``, set by the HTML site builder), displaying the widget also emits every frame.
    """

    name: str
    slider: object

    def frame_html(self, value) -> str:
        raise NotImplementedError

    def static_frames(self) -> dict:
        """``{"name", "labels", "index", "slider", "frames"}``: the slider's name, one label and one HTML
        frame per value (images as ``data:`` URIs), the selected position and the slider's widget model id."""
        values = list(self.slider.options)
        return {"name": self.name, "labels": [_key(v) for v in values], "index": values.index(self.slider.value),
                "slider": self.slider.model_id, "frames": [self.frame_html(v) for v in values]}

    def _box(self, children, static: bool | None):
        from . import config

        static = config.STATIC_PAGE if static is None else static
        return _panel_box(children, self.static_frames if static else None)


def _default_image(dataset, image_size: int):
    """A fixed, easily read sprite (heart, middle scale, upright, centred) as ``(1, C, H, W)``."""
    if dataset is None:
        from .data import DSprites

        dataset = DSprites(image_size=image_size)
    factors = np.array([[min(2, s - 1) for s in dataset.factor_sizes[:1]] +
                        [s // 2 for s in dataset.factor_sizes[1:2]] + [0] +
                        [s // 2 for s in dataset.factor_sizes[3:]]], dtype=np.int64)
    return dataset.sample_observations_from_factors(factors)


class TraversalExplorer:
    """One slider per latent z_j in [-3, 3]; the image decoded from the slider values updates live.

    The sliders start at the posterior mean (the code) of the image ``x`` ``(1, C, H, W)``; moving
    one changes that coordinate only, so the picture shows what the decoder attributes to it.
    ``kl_per_dim`` ``(latent_dim,)`` (e.g. ``LiveRun.kl_per_dim``) labels each slider with the
    latent's KL; latents that are not active (KL <= ``models.ACTIVE_KL``) are marked "off" (the decoder
    ignores them).

    Example::

        explorer = TraversalExplorer(run.model, x, run.kl_per_dim)
        explorer.widget          # display it in a notebook
        explorer.set(z3=1.5)
        explorer.image()         # (H, W) numpy image decoded from the current sliders
    """

    LIMIT = 3.0   # a little past the traversal figures' TRAVERSAL_LIMIT: a student can leave the prior's mass

    def __init__(self, model, x, kl_per_dim=None, zoom: int | None = None):
        import ipywidgets as w
        import torch

        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[0] != 1:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be one image as a tensor of shape (1, C, H, W), got {got}; "
                             "take one with x[:1] or dataset.images([index])")
        self.model = model
        self.latent_dim = model.latent_dim
        if kl_per_dim is not None:
            kl_per_dim = np.asarray(kl_per_dim, dtype=float)
            if kl_per_dim.shape != (self.latent_dim,):
                raise ValueError(f"kl_per_dim must have shape ({self.latent_dim},), one value per latent, "
                                 f"got {kl_per_dim.shape}")
        self.kl_per_dim = kl_per_dim
        device = next(model.parameters()).device
        with torch.no_grad():
            self.code = model.encode(x.to(device))[0][0].cpu().numpy().astype(np.float64)   # (latent_dim,)
        self.zoom = zoom or max(1, 192 // int(x.shape[-1]))
        self.sliders = {}
        for j in range(self.latent_dim):
            label = f"z{j}" if kl_per_dim is None else \
                f"z{j} {kl_per_dim[j]:.2f}" + ("" if active_latents(kl_per_dim[j]) else " off")
            self.sliders[f"z{j}"] = w.FloatSlider(
                value=float(np.clip(self.code[j], -self.LIMIT, self.LIMIT)), min=-self.LIMIT, max=self.LIMIT,
                step=0.05, description=label, continuous_update=True, readout_format=".2f",
                style={"description_width": "90px"})
        self.picture = w.Image(format="png", value=png_bytes(self.image(), self.zoom))
        self.reset_button = w.Button(description="back to the image's code")
        self.reset_button.on_click(lambda _b: self.reset())
        for slider in self.sliders.values():
            slider.observe(self._update, names="value")
        note = w.HTML("<small>slider label: latent" + (", its KL in nats" if kl_per_dim is not None else "") +
                      "</small>")
        self.widget = w.HBox([w.VBox(list(self.sliders.values()) + [self.reset_button, note]), self.picture])

    def values(self) -> np.ndarray:
        """The current code, ``(latent_dim,)`` float."""
        return np.array([s.value for s in self.sliders.values()], dtype=np.float64)

    def image(self) -> np.ndarray:
        """The image decoded from the current sliders, numpy (H, W) (or (H, W, 3)) in [0, 1]."""
        import torch

        device = next(self.model.parameters()).device
        z = torch.as_tensor(self.values(), dtype=torch.float32, device=device)[None]
        with torch.no_grad():
            decoded = torch.sigmoid(self.model.decode(z)).cpu()
        return as_numpy_images(decoded)[0]

    def set(self, **values):
        """Move sliders by name, e.g. ``set(z3=1.5, z0=-2)``; values must lie in [-3, 3]."""
        unknown = sorted(set(values) - set(self.sliders))
        if unknown:
            raise ValueError(f"unknown latent(s) {unknown}; the sliders are z0 ... z{self.latent_dim - 1}")
        for name, value in values.items():
            if not isinstance(value, (int, float, np.floating, np.integer)) or not -self.LIMIT <= value <= self.LIMIT:
                raise ValueError(f"{name} must be a number in [{-self.LIMIT:g}, {self.LIMIT:g}] (the slider range), "
                                 f"got {value!r}")
        for name, value in values.items():
            self.sliders[name].value = float(value)

    def reset(self):
        """Put every slider back at the code of the image."""
        self.set(**{f"z{j}": float(np.clip(v, -self.LIMIT, self.LIMIT)) for j, v in enumerate(self.code)})

    def _update(self, _change=None):
        self.picture.value = png_bytes(self.image(), self.zoom)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def _key(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float, np.number)) else str(value)


def _format_number(value) -> str:
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"


class SweepExplorer(StaticSliderPanel):
    """A slider over trained runs (one per value of beta, gamma, C, ...): the panel shows the selected run.

    ``runs``: dict value -> ``runs.LiveRun`` (what ``runs.sweep`` returns); ``name``: the swept
    hyper-parameter.  For the selected run the panel shows its latent traversals (rows sorted by KL,
    collapsed latents marked), its KL per latent, and its final training numbers (averages over the
    last 10% of steps), as PNG images and an HTML table, so it also runs headless.  ``x``: the image
    ``(1, C, H, W)`` to traverse from (default: a centred heart from ``dataset``).  ``static``: also
    emit the pictures of every run when displayed, for the HTML site (default ``config.STATIC_PAGE``).

    Example::

        panel = SweepExplorer(runs.sweep("betavae", "beta", (1, 4, 16), steps=150), name="beta")
        panel.widget
        panel.select(4)
        panel.current            # the LiveRun shown now
    """

    TERMS = ("loss", "recon", "kl", "mi", "tc", "dw_kl", "capacity", "disc_accuracy")

    def __init__(self, runs: dict, name: str = "beta", x=None, dataset=None, n_steps: int = 7,
                 static: bool | None = None):
        import ipywidgets as w

        if not isinstance(runs, dict) or not runs:
            raise ValueError("runs must be a non-empty dict value -> LiveRun, e.g. the output of runs.sweep(...)")
        for value, run in runs.items():
            if not hasattr(run, "model") or not hasattr(run, "history"):
                raise TypeError(f"runs[{value!r}] must be a runs.LiveRun (with .model and .history), "
                                f"got {type(run).__name__}")
        self.runs = dict(sorted(runs.items(), key=lambda kv: kv[0]))
        self.name = name
        first = next(iter(self.runs.values())).model
        self.x = _default_image(dataset, first.image_size) if x is None else x
        self.n_steps = n_steps
        self._pictures: dict = {}
        self.slider = w.SelectionSlider(options=list(self.runs), value=next(iter(self.runs)), description=name,
                                        continuous_update=False, style={"description_width": "60px"})
        self.traversal = w.Image(format="png")
        self.kl_bars = w.Image(format="png")
        self.numbers = w.HTML()
        self.slider.observe(self._update, names="value")
        self._update()
        self.widget = self._box([self.slider, w.HBox([self.traversal, w.VBox([self.kl_bars, self.numbers])])], static)

    @property
    def current(self):
        """The ``LiveRun`` selected now."""
        return self.runs[self.slider.value]

    def select(self, value):
        """Move the slider to ``value`` (one of the keys of ``runs``)."""
        if value not in self.runs:
            raise ValueError(f"{self.name} = {value!r} was not trained; choose one of {list(self.runs)} "
                             f"(or add a run for it with runs.sweep)")
        self.slider.value = value

    def pictures(self, value) -> tuple[bytes, bytes]:
        """PNG bytes of (traversal grid, KL bars) for the run at ``value``; computed once, then cached."""
        if value not in self._pictures:
            from . import plots

            run = self.runs[value]
            kl = run.kl_per_dim
            traversal = plots.latent_traversal(run.model, self.x, kl_per_dim=kl, n_steps=self.n_steps)
            traversal.suptitle(f"{self.name} = {_key(value)}: each row one latent from {-TRAVERSAL_LIMIT:g} to "
                               f"{TRAVERSAL_LIMIT:g}", fontsize=9)
            traversal.tight_layout(rect=(0, 0, 1, 0.96))          # room for the title above the first row
            bars = plots.kl_per_dimension(kl, title=f"{self.name} = {_key(value)}: KL per latent "
                                                    f"(total {kl.sum():.1f} nats)")
            self._pictures[value] = (figure_png(traversal), figure_png(bars))
        return self._pictures[value]

    def describe(self, value=None) -> str:
        """The final numbers of the run at ``value`` (default: the selected one) as an HTML table."""
        value = self.slider.value if value is None else value
        run = self.runs[value]
        last = run.last
        rows = [(t, last[t]) for t in self.TERMS if t in last]
        rows.append((f"active latents (KL > {ACTIVE_KL:g})", int(active_latents(run.kl_per_dim).sum())))
        body = "".join(f"<tr><td>{t}</td><td style='text-align:right'>{_format_number(v)}</td></tr>" for t, v in rows)
        return (f"<b>{self.name} = {_key(value)}</b>, {run.settings.get('steps', '?')} steps"
                f"<table>{body}</table><small>averages over the last 10% of steps, nats; mi, tc, dw_kl "
                f"are the minibatch (MSS) estimates of training, which lesson 05 measures off by nats "
                f"on a trained encoder (TC negative for most models): compare rows, not values</small>")

    def frame_html(self, value) -> str:
        """What the panel shows for ``value`` as one HTML block (images as ``data:`` URIs), for static pages."""
        traversal, bars = self.pictures(value)
        return (f'<div style="display:flex;gap:8px;align-items:flex-start"><img alt="latent traversals, '
                f'{html.escape(self.name)} = {_key(value)}" src="{png_data_uri(traversal)}"><div>'
                f'<img alt="KL per latent" src="{png_data_uri(bars)}"><div>{self.describe(value)}</div></div></div>')

    def _update(self, _change=None):
        self.traversal.value, self.kl_bars.value = self.pictures(self.slider.value)
        self.numbers.value = self.describe()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


SCORE_NAMES = {"mig": "MIG", "factor_vae": "FactorVAE score", "sap": "SAP", "beta_vae": "BetaVAE score",
               "dci_disentanglement": "DCI D"}


class ScoreExplorer(StaticSliderPanel):
    """A slider over one sweep's hyper-parameter (beta, gamma, C, ...): the scores of the run trained at that value.

    ``scores``: dict value -> dict score name -> float in [0, 1] (e.g. ``evaluation.score`` of each run of a
    ``runs.sweep``; every value must have the same scores); ``name``: the hyper-parameter; ``title``: the
    method.  For the selected value the picture shows the run's scores as bars (left) and every score along
    the whole sweep with the selected value marked (right).  ``static``: as for ``SweepExplorer``.

    Example::

        scores = {b: evaluation.score(r.model, ds, which=("mig", "sap")) for b, r in sweep.items()}
        panel = ScoreExplorer(scores, name="beta", title="beta-VAE")
        panel.widget
        panel.select(4)
    """

    def __init__(self, scores: dict, name: str = "beta", title: str = "", static: bool | None = None):
        import ipywidgets as w

        if not isinstance(scores, dict) or not scores:
            raise ValueError("scores must be a non-empty dict value -> {score name: number}, "
                             "e.g. {1: {'mig': 0.1}, 4: {'mig': 0.2}}")
        keys = {tuple(s) if isinstance(s, dict) else None for s in scores.values()}
        if None in keys or len(keys) != 1 or not next(iter(keys)):
            raise ValueError(f"every value needs a dict with the same scores, got {list(scores.values())}")
        self.scores = dict(sorted(scores.items(), key=lambda kv: kv[0]))
        self.metrics = list(next(iter(keys)))
        self.name, self.title = name, title
        self._pictures: dict = {}
        self.slider = w.SelectionSlider(options=list(self.scores), value=next(iter(self.scores)), description=name,
                                        continuous_update=False, style={"description_width": "60px"})
        self.picture = w.Image(format="png")
        self.slider.observe(self._update, names="value")
        self._update()
        self.widget = self._box([self.slider, self.picture], static)

    def select(self, value):
        """Move the slider to ``value`` (one of the keys of ``scores``)."""
        if value not in self.scores:
            raise ValueError(f"{self.name} = {value!r} has no scores; choose one of {list(self.scores)}")
        self.slider.value = value

    def picture_png(self, value) -> bytes:
        """PNG bytes of the figure for ``value``; computed once, then cached."""
        if value not in self._pictures:
            import matplotlib.pyplot as plt

            values = list(self.scores)
            labels = [SCORE_NAMES.get(m, m) for m in self.metrics]
            fig, (bars, lines) = plt.subplots(1, 2, figsize=(9, 3), gridspec_kw={"width_ratios": (1, 1.4)})
            colors = [f"C{k}" for k in range(len(self.metrics))]
            heights = [self.scores[value][m] for m in self.metrics]
            bars.bar(range(len(labels)), heights, color=colors)
            for k, h in enumerate(heights):
                bars.text(k, h + 0.02, f"{h:.2f}", ha="center", fontsize=8)
            bars.set_xticks(range(len(labels)), labels, fontsize=8)
            bars.set_ylim(0, 1.05)
            bars.set_title(f"{self.title} {self.name} = {_key(value)}".strip(), fontsize=9)
            positions = np.arange(len(values))
            for m, label, color in zip(self.metrics, labels, colors):
                lines.plot(positions, [self.scores[v][m] for v in values], "o-", color=color, label=label)
            lines.axvline(values.index(value), color="k", lw=1, ls="--")
            lines.set_xticks(positions, [_key(v) for v in values])
            lines.set(xlabel=self.name, ylim=(0, 1.05))
            lines.set_title("along the sweep (dashed: the selected run)", fontsize=9)
            lines.legend(fontsize=7)
            lines.grid(alpha=0.3)
            fig.tight_layout()
            self._pictures[value] = figure_png(fig)
        return self._pictures[value]

    def frame_html(self, value) -> str:
        return f'<img alt="scores, {html.escape(self.name)} = {_key(value)}" src="{png_data_uri(self.picture_png(value))}">'

    def _update(self, _change=None):
        self.picture.value = self.picture_png(self.slider.value)
class PictureSlider(StaticSliderPanel):
    """A slider over precomputed pictures: one PNG (and an HTML caption) per value of a setting; on a static page
    (``config.STATIC_PAGE``, or ``static=True``) every picture travels with the page and the slider still works.

    ``pictures``: dict value -> PNG bytes (e.g. ``figure_png(fig)``), shown in sorted order (``sort=False``: in the
    dict's order); ``captions``: dict value -> HTML.
    For results that take a training run per value (lesson 07: MCC over the number of segments).

    Example::

        panel = PictureSlider({1: png1, 40: png40}, name="segments")
        panel.widget
        panel.select(40)
    """

    def __init__(self, pictures: dict, name: str, captions: dict | None = None, static: bool | None = None,
                 sort: bool = True):
        import ipywidgets as w

        if not isinstance(pictures, dict) or not pictures:
            raise ValueError("pictures must be a non-empty dict value -> PNG bytes (widgets.figure_png(fig))")
        self.pictures = dict(sorted(pictures.items(), key=lambda kv: kv[0])) if sort else dict(pictures)
        self.captions = dict(captions or {})
        self.name = name
        self.slider = w.SelectionSlider(options=list(self.pictures), value=next(iter(self.pictures)), description=name,
                                        continuous_update=False, style={"description_width": "80px"})
        self.picture = w.Image(format="png")
        self.caption = w.HTML()
        self.slider.observe(self._update, names="value")
        self._update()
        self.widget = self._box([self.slider, self.caption, self.picture], static)

    @property
    def current(self):
        """The value selected now."""
        return self.slider.value

    def select(self, value):
        """Move the slider to ``value`` (one of the keys of ``pictures``)."""
        if value not in self.pictures:
            raise ValueError(f"{self.name} = {value!r} has no picture; choose one of {list(self.pictures)}")
        self.slider.value = value

    def _caption(self, value) -> str:
        return self.captions.get(value, f"<b>{self.name} = {_key(value)}</b>")

    def frame_html(self, value) -> str:
        return f'<div>{self._caption(value)}</div><img src="{png_data_uri(self.pictures[value])}">'

    def _update(self, _change=None):
        self.picture.value = self.pictures[self.slider.value]
        self.caption.value = self._caption(self.slider.value)


class CodebookExplorer:
    """A VQ-VAE's discrete code as sliders: one integer slider per code position, over the codebook's entries.

    The sliders start at the code (nearest-entry indices) of the image ``x`` ``(1, C, H, W)``; moving one
    swaps the entry at that position for another, and the decoded image updates.  Neighbouring slider
    values are *not* neighbouring entries: the codebook has no order, so unlike ``TraversalExplorer``
    there is no smooth path to follow.

    Example::

        explorer = CodebookExplorer(vq_model, x)
        explorer.set(c3=17)
        explorer.image()       # (H, W) numpy image decoded from the current indices
    """

    def __init__(self, model, x, zoom: int | None = None):
        import ipywidgets as w
        import torch

        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[0] != 1:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be one image as a tensor of shape (1, C, H, W), got {got}")
        if not hasattr(model, "decode_indices"):
            raise TypeError(f"CodebookExplorer needs a vqvae.VQVAE, got {type(model).__name__}; "
                            "for a continuous code use TraversalExplorer")
        self.model, self.size = model, model.codebook_size
        device = next(model.parameters()).device
        with torch.no_grad():
            self.code = model.encode(x.to(device))[1][0].cpu().numpy()            # (latent_dim,) indices
        self.zoom = zoom or max(1, 192 // int(x.shape[-1]))
        self.sliders = {f"c{j}": w.IntSlider(value=int(k), min=0, max=self.size - 1, description=f"c{j}",
                                             continuous_update=True, style={"description_width": "40px"})
                        for j, k in enumerate(self.code)}
        self.picture = w.Image(format="png", value=png_bytes(self.image(), self.zoom))
        self.reset_button = w.Button(description="back to the image's code")
        self.reset_button.on_click(lambda _b: self.reset())
        for slider in self.sliders.values():
            slider.observe(self._update, names="value")
        note = w.HTML(f"<small>slider: the codebook entry (0 ... {self.size - 1}) at each code position</small>")
        self.widget = w.HBox([w.VBox(list(self.sliders.values()) + [self.reset_button, note]), self.picture])

    def values(self) -> np.ndarray:
        """The current discrete code, ``(latent_dim,)`` int."""
        return np.array([s.value for s in self.sliders.values()], dtype=np.int64)

    def image(self) -> np.ndarray:
        """The image decoded from the current indices, numpy (H, W) in [0, 1]."""
        import torch

        device = next(self.model.parameters()).device
        indices = torch.as_tensor(self.values(), device=device)[None]
        with torch.no_grad():
            decoded = torch.sigmoid(self.model.decode_indices(indices)).cpu()
        return as_numpy_images(decoded)[0]

    def set(self, **values):
        """Move sliders by name, e.g. ``set(c3=17)``; values must be entries 0 ... K - 1."""
        unknown = sorted(set(values) - set(self.sliders))
        if unknown:
            raise ValueError(f"unknown code position(s) {unknown}; the sliders are c0 ... c{len(self.sliders) - 1}")
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < self.size:
                raise ValueError(f"{name} must be an entry index in [0, {self.size - 1}], got {value!r}")
        for name, value in values.items():
            self.sliders[name].value = int(value)

    def reset(self):
        """Put every slider back at the image's code."""
        self.set(**{f"c{j}": int(k) for j, k in enumerate(self.code)})

    def _update(self, _change=None):
        self.picture.value = png_bytes(self.image(), self.zoom)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
