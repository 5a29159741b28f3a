"""Shared fixtures: one rendering of the full grid per test session, cached in a temp folder."""
import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Keep the tests' dSprites cache away from the user's (~/.cache/dvae_tutorial)."""
    if "DVAE_TUTORIAL_CACHE" not in os.environ:
        os.environ["DVAE_TUTORIAL_CACHE"] = str(tmp_path_factory.mktemp("dvae_cache"))
    yield


@pytest.fixture(scope="session")
def dsprites_full():
    from dvae_tutorial import data

    return data.DSprites(cache=False, progress=False)


@pytest.fixture(scope="session")
def dsprites_small():
    from dvae_tutorial import data

    return data.DSprites.small(progress=False)
