"""A synthetic data engine: rendered people with exact labels, generated on the fly on any device.

:class:`SyntheticHumans` streams :class:`~hpskit.data.Batch` es in the same schema as the real
datasets (crop, CLIFF box features, full-image K, keypoints, 3D joints, SMPL-X pose and shape,
translation, vertices, BEDLAM-normalised depth and 23-class part maps). See ``docs/synthetic.md``.

* :mod:`~hpskit.data.synthetic.poses`: joint limits, key poses, the pose sampler, real pose files;
* :mod:`~hpskit.data.synthetic.cameras`: image sizes, focal lengths, orientation, framing, betas;
* :mod:`~hpskit.data.synthetic.appearance`: skin, hair, garments, patterns, lighting;
* :mod:`~hpskit.data.synthetic.backgrounds`: procedural backgrounds and photo banks;
* :mod:`~hpskit.data.synthetic.render`: box, crop camera, maps and depth normalisation;
* :mod:`~hpskit.data.synthetic.engine`: the dataset;
* :mod:`~hpskit.data.synthetic.scene`: whole pictures of several people at chosen poses (demos, detectors,
  video tests).
"""

from .appearance import AppearanceConfig
from .backgrounds import BACKGROUND_KINDS, ImageBank
from .cameras import CameraConfig, ShapeConfig
from .engine import SyntheticConfig, SyntheticHumans
from .poses import JOINT_LIMITS, KEY_POSES, NpzPoseSource, PoseConfig, PoseSampler
from .render import normalize_depth_batch
from .scene import Scene, render_people

__all__ = [
    "AppearanceConfig",
    "BACKGROUND_KINDS",
    "CameraConfig",
    "ImageBank",
    "JOINT_LIMITS",
    "KEY_POSES",
    "NpzPoseSource",
    "PoseConfig",
    "PoseSampler",
    "Scene",
    "ShapeConfig",
    "SyntheticConfig",
    "SyntheticHumans",
    "normalize_depth_batch",
    "render_people",
]
