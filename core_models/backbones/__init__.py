"""Video backbones: I3D (Inception-v1 inflated), inflated 3D ResNet-50, non-local block, weight loading.

Every backbone has ``forward_features(x, *, until=...)``, ``forward_head(feat)``, ``forward(x)``,
``num_features`` and ``feature_channels(endpoint)``; input clips are (B, 3, T, H, W).
"""

from core_models.backbones.i3d import I3D, I3DConfig, i3d_cpu, i3d_paper
from core_models.backbones.inflate import (
    LoadReport,
    inflate_conv_weight,
    inflate_googlenet_weights,
    inflate_resnet50_weights,
    load_i3d_port_weights,
    load_state_dict_file,
)
from core_models.backbones.nonlocal_block import NonLocalBlock
from core_models.backbones.resnet3d import ResNet3D, ResNet3DConfig, resnet3d50_paper, resnet3d_cpu

# name -> factory(num_classes); presets are data, the factories only fill a config
BACKBONES = {
    "i3d_paper": i3d_paper,
    "i3d_cpu": i3d_cpu,
    "resnet3d50_paper": resnet3d50_paper,
    "resnet3d_cpu": resnet3d_cpu,
}

__all__ = [
    "BACKBONES",
    "I3D",
    "I3DConfig",
    "LoadReport",
    "NonLocalBlock",
    "ResNet3D",
    "ResNet3DConfig",
    "i3d_cpu",
    "i3d_paper",
    "inflate_conv_weight",
    "inflate_googlenet_weights",
    "inflate_resnet50_weights",
    "load_i3d_port_weights",
    "load_state_dict_file",
    "resnet3d50_paper",
    "resnet3d_cpu",
]
