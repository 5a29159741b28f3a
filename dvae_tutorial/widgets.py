"""Interactive panels (ipywidgets) of the course.

Each panel is a small class: the sliders, what they drive, and an ``image()`` (or similar) method
that computes what the panel shows, so tests and nbval run the panels without a browser.
"""
from __future__ import annotations

import io

import numpy as np

from .plots import as_numpy_images


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
