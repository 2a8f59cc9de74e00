"""Training losses of D-PoSE (paper §3.3) as functional + Module pairs, and the combined :class:`DPoSELoss`.

Every function returns one value per sample (``reduction="none"``) or the mean over the samples flagged in
``mask`` (``reduction="mean"``, the default); a batch without any flagged sample gives exactly 0.
"""

from ._common import masked_mean
from .camera import (
    CameraScaleLoss,
    ReprojectionLoss,
    camera_scale_loss,
    normalize_keypoints,
    reprojection_loss,
)
from .depth import (
    DepthLoss,
    DepthMSESSIMLoss,
    depth_l1_loss,
    depth_loss,
    depth_mse_loss,
    depth_mse_ssim_loss,
    depth_ssim_loss,
    gaussian_ssim,
    gaussian_ssim_loss,
)
from .dpose import PRESETS, DPoSELoss, LossOptions, LossWeights
from .inputs import SUPERVISION_FLAGS, LossInputs, LossTargets
from .joints import Joints3DLoss, VerticesLoss, joints3d_loss, vertices_l1_loss
from .params import BetasLoss, PoseLoss, as_pose_rotmat, betas_loss, pose_rotmat_loss
from .parts import PartCrossEntropyLoss, check_part_labels, part_cross_entropy

__all__ = [
    "PRESETS",
    "SUPERVISION_FLAGS",
    "BetasLoss",
    "CameraScaleLoss",
    "DPoSELoss",
    "DepthLoss",
    "DepthMSESSIMLoss",
    "Joints3DLoss",
    "LossInputs",
    "LossOptions",
    "LossTargets",
    "LossWeights",
    "PartCrossEntropyLoss",
    "PoseLoss",
    "ReprojectionLoss",
    "VerticesLoss",
    "as_pose_rotmat",
    "betas_loss",
    "camera_scale_loss",
    "check_part_labels",
    "depth_l1_loss",
    "depth_loss",
    "depth_mse_loss",
    "depth_mse_ssim_loss",
    "depth_ssim_loss",
    "gaussian_ssim",
    "gaussian_ssim_loss",
    "joints3d_loss",
    "masked_mean",
    "normalize_keypoints",
    "part_cross_entropy",
    "pose_rotmat_loss",
    "reprojection_loss",
    "vertices_l1_loss",
]
