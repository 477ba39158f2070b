"""Losses shared by the models: cross-entropy and the attention regularisers.

The pose-driven attention papers train with a cross-entropy "regularised on the attention", but
their equations and weights are not public and the released code applies none (see
``shared/reference/seed-systems.md``). The terms here are the standard ones that family uses:

* :func:`doubly_stochastic`: Sharma et al.'s penalty for attention given per time step,
  ``sum_i (1 - sum_t a_ti)^2`` scaled by T, which asks every location (part, cell) to be attended
  at some time instead of one location absorbing all the weight from the start;
* :func:`normalized_entropy`: the same divided by log N, so terms over maps of different sizes
  are on one scale (1 uniform, 0 one-hot);
* :func:`entropy`: mean entropy of a distribution; a positive weight asks for peaked attention, a
  negative weight for spread attention;
* :func:`label_log_probs`: each step's log-probability of the clip's label, for the losses that
  weigh steps by how well their own reads hold it (part attention's ``step_target="explains"``);
  :func:`label_shares`, how the label's probability splits over the steps, is their target and
  ``evaluate``'s score of where those reads put the label.

Each model's ``loss(out, batch)`` combines them with its own weights and returns the total and a
dict of the named terms (logged by the training loop).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812


def classification(
    logits: torch.Tensor, labels: torch.Tensor, *, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Cross-entropy of (B, K) logits against (B,) labels."""
    return F.cross_entropy(logits, labels, label_smoothing=label_smoothing)


def doubly_stochastic(attention: torch.Tensor) -> torch.Tensor:
    """Sharma et al.'s penalty on (B, T, N) attention that sums to 1 over N at every step.

    ``mean_b sum_n (1 - (N / T) sum_t a_tn)^2``: the column sums over time are compared with their
    value under uniform attention (T / N), so the term is 0 for uniform attention and grows when
    some locations are never attended.
    """
    if attention.dim() != 3:
        raise ValueError(f"attention must be (B, T, N), got {tuple(attention.shape)}")
    T, N = attention.shape[1:]
    column = attention.sum(dim=1) * (N / T)  # (B, N), 1 when uniform
    return ((1.0 - column) ** 2).sum(dim=1).mean()


def entropy(attention: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """Mean entropy (nats) of distributions along ``dim``."""
    return -(attention * (attention + eps).log()).sum(dim=dim).mean()


def normalized_entropy(attention: torch.Tensor) -> torch.Tensor:
    """Mean entropy of (B, N) distributions divided by log N: 1 when uniform, 0 when one-hot.

    Returns 0 when N is 1 (a single cell carries no choice).
    """
    if attention.dim() != 2:
        raise ValueError(f"attention must be (B, N), got {tuple(attention.shape)}")
    n = attention.shape[-1]
    if n <= 1:
        return attention.sum() * 0.0
    return entropy(attention, dim=-1) / math.log(n)


def label_log_probs(step_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``log p_t(y)``: each step's log-probability of its clip's label, (B, T', K) -> (B, T')."""
    logp = F.log_softmax(step_logits, dim=-1)
    return logp.gather(-1, labels[:, None, None].expand(-1, logp.shape[1], 1)).squeeze(-1)


def label_shares(step_logits: torch.Tensor, labels: torch.Tensor, sharpness: float = 1.0) -> torch.Tensor:
    """``p_t(y)^g / sum_s p_s(y)^g``: how the label's probability splits over the steps when each
    is read alone, (B, T', K) -> (B, T'); ``sharpness`` g above 1 moves it onto the best steps."""
    return torch.softmax(sharpness * label_log_probs(step_logits, labels), dim=1)
