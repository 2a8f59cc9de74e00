"""Encoders: image → multi-resolution maps F0..F3 and the authors' learned 720-channel fused map.

``create_encoder("hrnet_w48")`` is the D-PoSE encoder; other timm trunks (HRNet-W18/W32, ResNet, ConvNeXt)
give the same output structure so they plug into the same decoders, attention and heads.
"""

from .coco import COCO_HRNET_TRUNK_GROUPS, CocoLoadReport, load_coco_hrnet_checkpoint
from .common import EncoderOutput, FeatureInfo, dpose_init_, kaiming_init_, upsample_stage
from .efficientnet_lite import (
    EFFICIENTNET_LITE_VARIANTS,
    ImageNetLoadReport,
    efficientnet_lite_state_dict,
    efficientnet_lite_weights_path,
    load_efficientnet_lite_imagenet_,
)
from .hrnet import HRNetEncoder
from .registry import ENCODERS, create_encoder, list_encoders
from .timm_encoder import TimmFusedEncoder

__all__ = [
    "COCO_HRNET_TRUNK_GROUPS",
    "EFFICIENTNET_LITE_VARIANTS",
    "ImageNetLoadReport",
    "efficientnet_lite_state_dict",
    "efficientnet_lite_weights_path",
    "load_efficientnet_lite_imagenet_",
    "ENCODERS",
    "CocoLoadReport",
    "EncoderOutput",
    "FeatureInfo",
    "HRNetEncoder",
    "TimmFusedEncoder",
    "create_encoder",
    "dpose_init_",
    "kaiming_init_",
    "list_encoders",
    "load_coco_hrnet_checkpoint",
    "upsample_stage",
]
