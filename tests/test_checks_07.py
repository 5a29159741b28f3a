"""Lesson 07's exercise checks: right answers pass, typical mistakes get their explanation."""
import math

import exercise_answers as answers
import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from dvae_tutorial import checks, metrics, widgets


def _corr(codes, sources):
    k = sources.shape[1]
    return np.abs(np.corrcoef(sources.T, codes.T)[:k, k:])


def test_mcc_check():
    def no_matching(codes, sources):
        return np.diag(_corr(codes, sources)).mean()

    def no_abs(codes, sources):
        k = sources.shape[1]
        c = np.corrcoef(sources.T, codes.T)[:k, k:]
        rows, cols = linear_sum_assignment(c, maximize=True)
        return c[rows, cols].mean()

    assert checks.check_mcc(answers.my_mcc)
    with pytest.raises(checks.ExerciseError, match="match them first"):
        checks.check_mcc(no_matching)
    with pytest.raises(checks.ExerciseError, match="absolute value"):
        checks.check_mcc(no_abs)
    with pytest.raises(checks.ExerciseError, match="not answered yet"):
        checks.check_mcc(None)


def _penalty(cov, lambda_od, lambda_d, diagonal_target=1.0):
    diag = torch.diagonal(cov)
    return lambda_od * (cov - torch.diag(diag)).pow(2).sum() + lambda_d * (diag - diagonal_target).pow(2).sum()


def test_dip_penalty_check():
    def forgets_variances(mu, logvar, lambda_od, lambda_d, kind):
        return answers.my_dip_penalty(mu, logvar, lambda_od, lambda_d, "i")

    def unbiased(mu, logvar, lambda_od, lambda_d, kind):
        cov = torch.cov(mu.T)
        if kind == "ii":
            cov = cov + torch.diag(logvar.exp().mean(0))
        return _penalty(cov, lambda_od, lambda_d)

    def diagonal_to_zero(mu, logvar, lambda_od, lambda_d, kind):
        centred = mu - mu.mean(0)
        cov = centred.T @ centred / len(mu)
        if kind == "ii":
            cov = cov + torch.diag(logvar.exp().mean(0))
        return _penalty(cov, lambda_od, lambda_d, diagonal_target=0.0)

    assert checks.check_dip_penalty(answers.my_dip_penalty)
    with pytest.raises(checks.ExerciseError, match="sampled"):
        checks.check_dip_penalty(forgets_variances)
    with pytest.raises(checks.ExerciseError, match="normalised by B"):
        checks.check_dip_penalty(unbiased)
    with pytest.raises(checks.ExerciseError, match="towards 1"):
        checks.check_dip_penalty(diagonal_to_zero)


def test_rotated_mcc_check_and_the_answer_is_what_mcc_measures():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((200_000, 2))
    z = np.c_[s[:, 0] - s[:, 1], s[:, 0] + s[:, 1]] / math.sqrt(2)
    assert metrics.mcc(z, s) == pytest.approx(1 / math.sqrt(2), abs=0.01)
    assert checks.check_rotated_mcc(1 / math.sqrt(2))
    with pytest.raises(checks.ExerciseError, match="not a permutation"):
        checks.check_rotated_mcc(1.0)
    with pytest.raises(checks.ExerciseError, match="squared"):
        checks.check_rotated_mcc(0.5)


def test_picture_slider_shows_the_selected_picture():
    panel = widgets.PictureSlider({40: b"b", 1: b"a"}, name="segments", captions={40: "forty"})
    assert panel.current == 1 and panel.picture.value == b"a"
    panel.select(40)
    assert panel.picture.value == b"b" and panel.caption.value == "forty"
    with pytest.raises(ValueError, match="has no picture"):
        panel.select(5)
    with pytest.raises(ValueError, match="non-empty dict"):
        widgets.PictureSlider({}, name="x")


def test_picture_slider_keeps_its_order_when_asked_and_carries_every_picture_on_a_static_page():
    pictures = {"b-setting": b"\x89PNG-b", "a-setting": b"\x89PNG-a"}
    panel = widgets.PictureSlider(pictures, name="setting", sort=False, static=True)
    assert list(panel.slider.options) == ["b-setting", "a-setting"] and panel.current == "b-setting"
    frames = panel.widget._repr_mimebundle_()[widgets.STATIC_SLIDER_MIME]
    assert frames["labels"] == ["b-setting", "a-setting"] and frames["index"] == 0
    assert [widgets.png_data_uri(p) in f for p, f in zip(pictures.values(), frames["frames"])] == [True, True]
    assert widgets.STATIC_SLIDER_MIME not in widgets.PictureSlider(pictures, name="s", static=False).widget._repr_mimebundle_()
