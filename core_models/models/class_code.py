"""An adversary that tries to read the class from a model's attention weights.

``evaluate``'s class-code check (``attention_scores.class_predictability``) asks whether the
attention weights alone name the class better than the ground-truth attention at the same
resolution does. Weights that do are a class code: a second classifier's output drawn as a map,
not a statement of where the evidence is. The ground truth of the synthetic data names the class at
chance (where and when the evidence lies does not depend on the class), so an attention that only
follows the evidence carries no class either.

:class:`AttentionAdversary` trains that check into the model: a linear classifier per attention
kind (and one on all of them together) reads the standardised weights, as the check's
nearest-class-mean classifier does, and learns to name the class from them; its gradient reaches
the attention reversed and scaled by ``weight`` (gradient reversal, Ganin and Lempitsky, ICML
2015), so the attention learns to carry as little class as the adversary can read while the class
loss still asks it to find the evidence. Nothing of it runs at inference: a model calls it in its
``loss`` alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn


class _Reverse(torch.autograd.Function):
    """Identity forward; the gradient comes back multiplied by ``-scale``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x`` unchanged, with its gradient multiplied by ``-scale`` on the way back."""
    return _Reverse.apply(x, scale)


class AttentionAdversary(nn.Module):
    """Linear class readers on attention weights, trained through gradient reversal.

    Args:
        sizes: the attention kinds and the number of weights of each (flattened per clip).
        num_classes: classes the readers name.
        weight: how strongly the reversed gradient pushes the attention (0: the readers learn,
            the attention does not hear them).
    """

    def __init__(self, sizes: dict[str, int], num_classes: int, weight: float):
        super().__init__()
        if not sizes:
            raise ValueError("the adversary needs at least one attention kind")
        self.names = list(sizes)
        self.weight = float(weight)
        total = sum(sizes.values())
        dims = {**sizes, **({"all": total} if len(sizes) > 1 else {})}
        # batch norm without affine: each weight standardised over the batch, as the check does
        self.norm = nn.ModuleDict({_key(n): nn.BatchNorm1d(d, affine=False) for n, d in dims.items()})
        self.read = nn.ModuleDict({_key(n): nn.Linear(d, num_classes) for n, d in dims.items()})

    def forward(self, attention: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the readers (the adversary minimises it; the attention, through
        the reversed gradient, maximises it): ``attention`` maps each kind to (B, ...) weights."""
        flat = {n: reverse_gradient(attention[n].flatten(1).float(), self.weight) for n in self.names}
        if len(flat) > 1:
            flat["all"] = torch.cat([flat[n] for n in self.names], dim=1)
        terms = [F.cross_entropy(self.read[_key(n)](self.norm[_key(n)](x)), labels) for n, x in flat.items()]
        return torch.stack(terms).mean()


def _key(name: str) -> str:
    return name.replace(":", "_").replace(".", "_")  # ModuleDict keys may not hold dots
