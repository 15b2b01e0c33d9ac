"""arena_course.models.load_or_train: the cache every result's tiny trained model goes through."""

import torch

from arena_course.models import load_or_train


def _trainer(module, calls):
    def train():
        calls.append(1)
        with torch.no_grad():
            module.weight.fill_(float(len(calls)))

    return train


def test_trains_once_then_loads_and_retrains_a_broken_cache(tmp_path):
    path = tmp_path / "cache" / "model.pt"
    calls = []
    first = torch.nn.Linear(2, 2)
    load_or_train(first, path, _trainer(first, calls))
    assert calls == [1] and path.is_file()

    second = torch.nn.Linear(2, 2)
    load_or_train(second, path, _trainer(second, calls))
    assert calls == [1], "a readable cache is loaded, not retrained"
    assert torch.equal(second.weight, first.weight)

    path.write_bytes(b"not a checkpoint")
    third = torch.nn.Linear(2, 2)
    load_or_train(third, path, _trainer(third, calls))
    assert calls == [1, 1] and float(third.weight[0, 0]) == 2.0
    fourth = torch.nn.Linear(2, 2)
    load_or_train(fourth, path, _trainer(fourth, calls))
    assert calls == [1, 1] and torch.equal(fourth.weight, third.weight)


def test_no_cache_path_always_trains(tmp_path):
    calls = []
    module = torch.nn.Linear(2, 2)
    load_or_train(module, None, _trainer(module, calls))
    load_or_train(module, None, _trainer(module, calls))
    assert calls == [1, 1]
    assert not list(tmp_path.iterdir())
