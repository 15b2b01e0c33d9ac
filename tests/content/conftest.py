"""Fixtures shared by the tests of the course's results."""

import pytest


@pytest.fixture(scope="session")
def trained_ioi_model(tmp_path_factory):
    """The tiny model that `--tiny` IOI results run on, trained once per test session (~25 s), in
    compatibility mode like the results use it. Tests must not modify it."""
    from arena_course.ioi import trained_tiny_ioi_model

    model = trained_tiny_ioi_model(cache_dir=tmp_path_factory.mktemp("ioi_model"), progress=False)
    model.enable_compatibility_mode(disable_warnings=True)
    return model
