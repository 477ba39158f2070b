"""Non-local block, embedded-Gaussian form.

Paper: Wang, Girshick, Gupta, He, "Non-local Neural Networks", CVPR 2018.

What is implemented: the embedded-Gaussian non-local operation on a (B, C, T, H, W) feature map,

    y_i = sum_j softmax_j(theta(x_i) . phi(x_j)) g(x_j),      z = W(y) + x,

with theta / phi / g as 1x1x1 convolutions to C/2 channels, W as a 1x1x1 convolution back to C
followed by BatchNorm whose gamma starts at zero, so a freshly inserted block is the identity and
does not disturb a pre-trained backbone. phi and g can be subsampled by a spatial 1x2x2 max-pool
(the paper's "subsampling" trick), which cuts the number of keys by 4.

Departures: none of substance. The softmax is a named module (``self.attend``) so a forward hook can
capture the (B, N, M) attention map without touching the block.
"""

from __future__ import annotations

import torch
from torch import nn


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block with a residual connection.

    Args:
        in_channels: C, the channel count of the input and output.
        inner_channels: channels of theta / phi / g; defaults to C // 2 (at least 1).
        subsample: spatially max-pool phi and g by 1x2x2 before attending.
        zero_init: initialise the BatchNorm gamma after W to zero, so the block starts as identity.

    Shape:
        x: (B, C, T, H, W) -> (B, C, T, H, W).
        The attention computed by ``self.attend`` is (B, N, M) with N = T*H*W queries and M keys
        (M = N, or T*ceil(H/2)*ceil(W/2) with ``subsample``); each row sums to 1.
    """

    def __init__(
        self,
        in_channels: int,
        inner_channels: int | None = None,
        *,
        subsample: bool = True,
        zero_init: bool = True,
    ) -> None:
        super().__init__()
        inner = inner_channels if inner_channels is not None else max(1, in_channels // 2)
        self.in_channels = in_channels
        self.inner_channels = inner
        self.theta = nn.Conv3d(in_channels, inner, kernel_size=1)
        self.phi = nn.Conv3d(in_channels, inner, kernel_size=1)
        self.g = nn.Conv3d(in_channels, inner, kernel_size=1)
        # ceil_mode so odd feature maps (e.g. 7x7) keep their border positions as keys
        self.pool = (
            nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2), ceil_mode=True)
            if subsample
            else nn.Identity()
        )
        self.attend = nn.Softmax(dim=-1)
        self.out = nn.Conv3d(inner, in_channels, kernel_size=1)
        self.bn = nn.BatchNorm3d(in_channels)
        if zero_init:
            nn.init.zeros_(self.bn.weight)
            nn.init.zeros_(self.bn.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block; returns a tensor of the input's shape (B, C, T, H, W)."""
        return self.attend_and_mix(x)[0]

    def attend_and_mix(
        self, x: torch.Tensor, override: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The block's output and its affinity (B, N, M). ``override`` (the affinity's shape, rows
        summing to one) replaces the affinity the block computes: an evaluation's intervention,
        e.g. equal rows, where every position reads the mean of all the keys' values."""
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected (B, {self.in_channels}, T, H, W), got {tuple(x.shape)}")
        b, _, t, h, w = x.shape
        query = self.theta(x).flatten(2).transpose(1, 2)  # (B, N, C')
        key = self.pool(self.phi(x)).flatten(2)  # (B, C', M)
        value = self.pool(self.g(x)).flatten(2).transpose(1, 2)  # (B, M, C')
        attn = self.attend(torch.bmm(query, key))  # (B, N, M), rows sum to 1
        if override is not None:
            if override.shape != attn.shape:
                raise ValueError(f"the non-local affinity override must be {tuple(attn.shape)}, "
                                 f"got {tuple(override.shape)}")  # fmt: skip
            attn = override.to(attn.dtype)
        y = torch.bmm(attn, value)  # (B, N, C')
        y = y.transpose(1, 2).reshape(b, self.inner_channels, t, h, w)  # (B, C', T, H, W)
        return x + self.bn(self.out(y)), attn
