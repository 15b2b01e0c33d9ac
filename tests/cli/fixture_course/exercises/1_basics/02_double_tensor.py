"""Double a tensor."""

import torch


def double(x: torch.Tensor) -> torch.Tensor:
    """Return 2 * x."""
    raise NotImplementedError("multiply x by two")
