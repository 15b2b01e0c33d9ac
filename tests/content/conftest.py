"""Fixtures shared by the tests of the course's results."""

import pytest


@pytest.fixture(scope="session")
def trained_ioi_model(tmp_path_factory):
    """The tiny model that `--tiny` IOI results run on, trained once per test session (~25 s), in
    compatibility mode like the results use it. Tests must not modify it."""
    import torch

    from arena_course.ioi import trained_tiny_ioi_model

    # One thread: tiny matrices gain nothing from two, and on a busy machine two spinning OpenMP threads
    # made this training 20x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = trained_tiny_ioi_model(cache_dir=tmp_path_factory.mktemp("ioi_model"), progress=False)
    finally:
        torch.set_num_threads(threads)
    model.enable_compatibility_mode(disable_warnings=True)
    return model
