"""D-PoSE: depth as an intermediate representation for 3D human pose and shape (Vasilikopoulos et al.).

Data flow (docs/authors-code.md (a)), each stage an hpskit block:

1. :func:`hpskit.encoders.create_encoder` (HRNet-W48) → branches ``F0..F3`` and the 720-channel fused map
   ``U``;
2. :class:`hpskit.decoders.UNetLiteDecoder` (23 channels) → part logits ``S`` (B, 23, 224, 224);
3. :class:`hpskit.decoders.UNetLiteDecoder` (1 channel, sigmoid) → depth ``D`` (B, 1, 224, 224) and the
   48-channel decoder feature ``Φ`` (B, 48, 56, 56);
4. :class:`hpskit.attention.PartAttention` (``U``, ``S[:, 1:]``) → part tokens (B, 22, 720);
5. :class:`hpskit.heads.DPoSERegressor` (tokens, CLIFF ``bbox_info``, mean of ``Φ``) → 22 rotations, 11 betas,
   crop camera (s, tx, ty);
6. ``model.body_model`` (:class:`hpskit.body.SMPLXBody`) → vertices and joints.

The forward computation is the authors' (so their converted checkpoint gives their outputs); where hpskit
differs on purpose (attention computed once, not twice; no dead modules; per-image focal length in
``predict``) ``docs/dpose.md`` says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch  # noqa: F401 - used by the doctests
from torch import Tensor, nn

from hpskit.attention import PartAttention
from hpskit.body import BodyOutput, SMPLXBody
from hpskit.core import IMAGENET_MEAN, IMAGENET_STD, ConfigError, Registry, check_finite, check_shape
from hpskit.decoders import UNetLiteDecoder
from hpskit.encoders import create_encoder
from hpskit.geometry import CROP_MODES
from hpskit.heads import DPoSERegressor, load_mean_params
from hpskit.hub import HubMixin, ModelCardInfo

__all__ = ["DPoSEConfig", "DPoSEOutput", "DPoSE", "MODELS", "create_model", "list_models"]

logger = logging.getLogger(__name__)

#: Registered model names ``<arch>_<encoder>`` (timm-style): ``create_model("dpose_hrnet_w48")``.
MODELS = Registry("model")


@dataclass(kw_only=True)
class DPoSEConfig:
    """Everything that fixes a D-PoSE network (and so its ``config.json``).

    Attributes:
        encoder: Registered encoder name (:func:`hpskit.encoders.list_encoders`); ``"hrnet_w48"`` is the
            paper's.
        num_parts: Part classes of the segmentation decoder including background (23).
        num_joints: Predicted rotations: global orientation + 21 body joints (22). Must equal
            ``num_parts - 1``, since each part token drives one joint head.
        num_betas: SMPL-X shape coefficients (11).
        use_depth: Build the depth decoder and feed its pooled feature to the regressor. ``False`` is the
            paper's "no depth" ablation (Table 3), with a smaller regressor.
        bbox_conditioning: Feed the CLIFF box vector (3) to the regressor.
        head_hidden: Hidden width of each head (32).
        body_model: SMPL-X model for ``model.body_model``: ``"auto"`` (the real file if configured, else the
            stand-in body with a logged warning), ``"standin"``, ``"none"`` (no body model), or a path.
        mean_params: Optional SPIN ``smpl_mean_params.npz`` for the head's start values (formats.md §2.2);
            ``None`` uses hpskit's documented default. A checkpoint's buffers override either.
        image_mean: Per-channel RGB mean the crops are normalised with, as the weights were trained
            (ImageNet's, :data:`hpskit.core.IMAGENET_MEAN`); ``predict`` reads it from here.
        image_std: Per-channel RGB standard deviation, likewise.
        crop_mode: The crop rule the weights were trained on, used by ``predict`` and the evaluation by
            default: ``"exact"`` (hpskit's continuous crop) or ``"authors"`` (the authors' integer window
            and skimage resize; set by the converter for their checkpoint). See
            :data:`hpskit.geometry.CROP_MODES`.
    """

    encoder: str = "hrnet_w48"
    num_parts: int = 23
    num_joints: int = 22
    num_betas: int = 11
    use_depth: bool = True
    bbox_conditioning: bool = True
    head_hidden: int = 32
    body_model: str = "auto"
    mean_params: str | None = None
    image_mean: tuple[float, float, float] = IMAGENET_MEAN
    image_std: tuple[float, float, float] = IMAGENET_STD
    crop_mode: str = "exact"

    def validate(self) -> None:
        """Raise :class:`ConfigError` listing every invalid field."""
        problems = []
        if self.crop_mode not in CROP_MODES:
            problems.append(f"crop_mode must be one of {CROP_MODES}; got {self.crop_mode!r}")
        for name in ("image_mean", "image_std"):
            value = getattr(self, name)
            if len(value) != 3 or (name == "image_std" and min(value) <= 0):
                problems.append(f"{name} must be 3 RGB values{' > 0' if name == 'image_std' else ''}; "
                                f"got {value!r}")
        if self.num_joints != self.num_parts - 1:
            problems.append(f"num_joints ({self.num_joints}) must equal num_parts - 1 ({self.num_parts - 1})")
        for name in ("num_parts", "num_joints", "num_betas", "head_hidden"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be ≥ 1; got {getattr(self, name)}")
        if problems:
            raise ConfigError("DPoSEConfig: " + "; ".join(problems) + ".")


@dataclass
class DPoSEOutput:
    """What :meth:`DPoSE.forward` returns (crop space; no body model applied).

    Attributes:
        pose_rotmat: (B, 22, 3, 3) rotations; joint 0 = global orientation in the camera frame.
        pose_6d: (B, 22, 6) the same in hpskit's (the authors') 6D layout.
        betas: (B, 11) SMPL-X shape coefficients.
        cam: (B, 3) crop camera (s, tx, ty) (weak perspective on the 224 crop; see
            :func:`hpskit.geometry.crop_cam_to_full_transl`).
        part_logits: (B, 23, H, W) part logits at the input resolution (channel 0 = background).
        depth: (B, 1, H, W) relative depth in (0, 1) (larger = farther), or ``None`` without depth branch.
        features: Intermediate maps when asked (``fused`` (B, 720, H/4, W/4), ``tokens`` (B, 22, 720),
            ``depth_feat`` (B, 48, H/4, W/4), ``branches`` list), else ``None``.
    """

    pose_rotmat: Tensor
    pose_6d: Tensor
    betas: Tensor
    cam: Tensor
    part_logits: Tensor
    depth: Tensor | None = None
    features: dict | None = field(default=None, repr=False)


class DPoSE(nn.Module, HubMixin):
    """The D-PoSE network, built entirely from hpskit blocks.

    Args:
        config: A :class:`DPoSEConfig` (default: the paper's model, 80,579,098 parameters).

    Shape:
        - images: (B, 3, H, W), ImageNet-normalised RGB; H and W multiples of 32 (224 in the paper).
        - bbox_info: (B, 3) CLIFF box vector (:func:`hpskit.geometry.cliff_bbox_info`).
        - output: :class:`DPoSEOutput`.

    Example:
        >>> model = DPoSE(DPoSEConfig(encoder="hrnet_w18", body_model="none")).eval()
        >>> out = model(torch.randn(1, 3, 224, 224), torch.zeros(1, 3))
        >>> tuple(out.pose_rotmat.shape), tuple(out.depth.shape), tuple(out.part_logits.shape)
        ((1, 22, 3, 3), (1, 1, 224, 224), (1, 23, 224, 224))
    """

    config_class = DPoSEConfig
    model_type = "dpose"
    model_card = ModelCardInfo(
        title="D-PoSE (hpskit)",
        tags=["human-pose-estimation", "smpl-x", "3d-human-mesh", "d-pose"],
        architecture=(
            "HRNet-W48 encoder → U-Net-lite depth and part-segmentation decoders → part soft-attention → "
            "per-joint MultiLinear heads with CLIFF box conditioning → SMPL-X (22 rotations, 11 betas, "
            "crop camera). 80,579,098 parameters."
        ),
    )

    def __init__(self, config: DPoSEConfig | None = None):
        super().__init__()
        config = DPoSEConfig() if config is None else config
        config.validate()
        self.config = config
        self.encoder = create_encoder(config.encoder)
        channels = self.encoder.feature_info.channels()
        if config.use_depth:
            self.depth_decoder = UNetLiteDecoder(channels, out_channels=1, final_activation="sigmoid")
        else:
            self.depth_decoder = None
        self.part_decoder = UNetLiteDecoder(channels, out_channels=config.num_parts, final_activation=None)
        self.attention = PartAttention(self.encoder.fused_channels)
        self.regressor = DPoSERegressor(
            num_joints=config.num_joints,
            att_channels=self.encoder.fused_channels,
            bbox_dim=3 if config.bbox_conditioning else 0,
            depth_channels=channels[0] if config.use_depth else 0,
            hidden=config.head_hidden,
            num_betas=config.num_betas,
        )
        if config.mean_params:
            self.regressor.set_mean_params(*load_mean_params(config.mean_params, config.num_joints,
                                                             config.num_betas))
        self.body_model = None
        if config.body_model != "none":
            path = None if config.body_model == "auto" else config.body_model
            self.body_model = SMPLXBody(path, num_betas=config.num_betas)

    @property
    def input_size(self) -> int:
        """The crop resolution the model is trained at (224)."""
        return 224

    def forward(self, images: Tensor, bbox_info: Tensor | None = None, return_features: bool = False,
                depth_map: bool = True) -> DPoSEOutput:
        """Run the network on crops.

        Args:
            images: (B, 3, H, W) ImageNet-normalised crops, H and W multiples of 32.
            bbox_info: (B, 3) CLIFF box vectors; required when ``config.bbox_conditioning``.
            return_features: Also return the intermediate maps in ``features``.
            depth_map: Compute the full-resolution depth map. ``False`` skips the depth decoder's ×4 upscaler
                and final layers (the regressor reads only the decoder's 1/4-resolution feature, so rotations,
                betas and camera are unchanged) and returns ``depth=None``.

        Returns:
            A :class:`DPoSEOutput`.

        Raises:
            ShapeError: On a wrong shape, or sizes that are not multiples of 32.
        """
        where = "DPoSE.forward"
        dims = check_shape(images, ("B", 3, "H", "W"), "images", where,
                           hint="Add a batch dim with images[None]." if images.dim() == 3 else "")
        if dims["H"] % 32 or dims["W"] % 32:
            raise ConfigError(f"{where}: `images` height and width must be multiples of 32; got "
                              f"{dims['H']}×{dims['W']}. Crop to 224×224 as the model was trained.")
        if self.config.bbox_conditioning:
            if bbox_info is None:
                raise ConfigError(f"{where}: `bbox_info` (B, 3) is required; compute it with "
                                  "hpskit.geometry.cliff_bbox_info(center, scale, K).")
            check_shape(bbox_info, ("B", 3), "bbox_info", where, dims=dims)
        else:
            bbox_info = None
        enc = self.encoder(images)
        part_logits, _ = self.part_decoder(enc.features)
        depth = depth_feat = None
        if self.depth_decoder is not None:
            depth, depth_feat = self.depth_decoder(enc.features, head=depth_map)
        # hpskit computes the attention once; the authors call it twice with identical inputs (docs/dpose.md).
        tokens = self.attention(enc.fused, part_logits[:, 1:])
        reg = self.regressor(tokens, bbox_info, depth_feat)
        features = None
        if return_features:
            features = {"fused": enc.fused, "tokens": tokens, "depth_feat": depth_feat,
                        "branches": enc.features}
        return DPoSEOutput(pose_rotmat=reg.pose_rotmat, pose_6d=reg.pose_6d, betas=reg.betas, cam=reg.cam,
                           part_logits=part_logits, depth=depth, features=features)

    def body(self, out: DPoSEOutput, transl: Tensor | None = None) -> BodyOutput:
        """Pose ``model.body_model`` with a forward output (vertices/joints in the body frame + ``transl``).

        Args:
            out: A :class:`DPoSEOutput`.
            transl: Optional (B, 3) translation added to vertices and joints, metres.

        Returns:
            :class:`hpskit.body.BodyOutput` with vertices (B, V, 3) and joints (B, 127, 3).

        Raises:
            ConfigError: If the model was built with ``body_model="none"``.
        """
        if self.body_model is None:
            raise ConfigError("DPoSE.body: this model has no body model (config.body_model='none').")
        check_finite(out.pose_rotmat, "pose_rotmat", "DPoSE.body")
        return self.body_model.forward_pose(out.pose_rotmat, out.betas, transl=transl)

    @classmethod
    def from_pretrained(cls, dir_or_hub_id, **kwargs) -> DPoSE:
        """Load a model: a built-in weight name (``"dpose_efficientnet_lite0.synthetic"``, offline, from the
        install; :mod:`hpskit.models.pretrained`), a folder written by ``save_pretrained``, or a Hub id.

        See :meth:`hpskit.hub.HubMixin.from_pretrained` for the keyword arguments.
        """
        from .pretrained import builtin_weights

        if isinstance(dir_or_hub_id, str) and not Path(dir_or_hub_id).expanduser().exists():
            entry = builtin_weights(dir_or_hub_id)
            if entry is not None:
                dir_or_hub_id = entry.folder
        return super().from_pretrained(dir_or_hub_id, **kwargs)

    def predict(self, images, boxes=None, K=None, **kwargs):
        """Whole-image inference; see :func:`hpskit.models.predict.predict` (no ``boxes``: the built-in
        detector, or ``detector=``, finds the people)."""
        from .predict import predict

        return predict(self, images, boxes, K=K, **kwargs)

    def optimize_for_inference(self, channels_last: bool = True, bf16: bool = False) -> DPoSE:
        """A copy for fast inference (``predict`` on CPU): BatchNorm folded into the convolutions, weights in
        channels_last, checked against this model on a probe batch
        (:func:`hpskit.models.optimize.fuse_for_inference`; outputs equal up to float rounding). This model is
        not modified.

        Args:
            channels_last: Store the 4-D weights channels_last (oneDNN's fast NHWC kernels).
            bf16: Opt-in, off by default, EfficientNet-lite encoders only (the shipped compact model): also
                run the encoder's fusion neck and the two decoders under bf16 autocast (trunk, attention,
                regressor, weights and outputs stay float32). Measured on the compact model (CPU, 2 threads,
                docs/benchmarks.md): network 1.3–1.5× faster, lean ``predict`` 1.3× (75–86 ms), predicted
                vertices within 4.3 mm of float32 on a photo. The probe
                check then uses the per-output :data:`hpskit.models.optimize.BF16_ATOL`. Other encoders
                (HRNet, …) raise :class:`~hpskit.core.ConfigError`: no trained model here to check them.

        Raises:
            ConfigError: ``bf16=True`` for an encoder other than EfficientNet-lite, or a copy that fails the
                probe check.

        Example:
            >>> fast = model.optimize_for_inference()  # doctest: +SKIP
            >>> pred = fast.predict(image, boxes)  # doctest: +SKIP
            >>> faster = compact.optimize_for_inference(bf16=True)  # doctest: +SKIP
        """
        from .optimize import fuse_for_inference

        return fuse_for_inference(self, channels_last=channels_last, bf16=bf16)[0]

    def num_parameters(self) -> int:
        """Number of parameters (80,579,098 for the default config)."""
        return sum(p.numel() for p in self.parameters())

    def parameter_table(self) -> dict[str, int]:
        """Parameters per top-level module, e.g. ``{"encoder": 70056192, ...}``."""
        return {name: sum(p.numel() for p in m.parameters()) for name, m in self.named_children()
                if m is not None}


def _dpose(encoder: str, use_depth: bool = True):
    def factory(**overrides) -> DPoSE:
        return DPoSE(DPoSEConfig(encoder=encoder, use_depth=use_depth, **overrides))

    factory.__name__ = f"dpose_{encoder}"
    factory.__doc__ = f"D-PoSE with the {encoder} encoder (depth branch {'on' if use_depth else 'off'})."
    return factory


for _enc in ("hrnet_w48", "hrnet_w32", "hrnet_w18", "resnet50", "convnext_tiny", "efficientnet_lite0",
             "efficientnet_lite1", "efficientnet_lite2"):
    MODELS.register(f"dpose_{_enc}")(_dpose(_enc))
MODELS.register("dpose_nodepth_hrnet_w48")(_dpose("hrnet_w48", use_depth=False))


def create_model(name: str = "dpose_hrnet_w48", pretrained: bool = False, **overrides) -> nn.Module:
    """Build a registered model, e.g. ``create_model("dpose_hrnet_w48", body_model="standin")``.

    A name may carry a weight tag, timm-style: ``create_model("dpose_hrnet_w18.synthetic", pretrained=True)``
    loads the weights that ship inside hpskit (:mod:`hpskit.models.pretrained`), offline, in eval mode.
    Without ``pretrained`` the tagged architecture is built with random weights.

    Args:
        name: ``<registered model>`` or ``<registered model>.<tag>``.
        pretrained: Load the tag's built-in weights (a tag is then required).
        **overrides: :class:`DPoSEConfig` fields (with ``pretrained``: top-level fields replacing the stored
            ones, e.g. ``body_model``).

    Raises:
        UnknownNameError: For an unknown model name (the message lists the closest ones) or an unknown weight
            tag (the message lists the known tags).
        ConfigError: ``pretrained=True`` for a name without a tag.
    """
    from .pretrained import builtin_weights, list_pretrained, split_model_name

    model_name, tag = split_model_name(name)
    MODELS.get(model_name)  # unknown model names fail first, with the closest names
    entry = builtin_weights(name)  # unknown tags fail here, with the known ones
    if pretrained:
        if entry is None:
            known = list_pretrained(model_name)
            raise ConfigError(f"create_model({name!r}, pretrained=True) needs a weight tag; "
                              f"{'use one of: ' + ', '.join(known) if known else model_name + ' has none'}.")
        return DPoSE.from_pretrained(entry.folder, **overrides)
    return MODELS.create(model_name, **overrides)


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return MODELS.names()
