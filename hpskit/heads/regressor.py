"""The D-PoSE regressor (ReFit-style): per-joint tokens → 6D joint rotations, betas and crop camera.

docs/authors-code.md (e). Each of the J part tokens is extended with the CLIFF box vector and the globally
averaged depth feature; per joint token order ``[att (C_att) | bbox (3) | depth (C_d)]``. One update step from
mean parameters held as buffers:

- pose: per joint ``[current 6D (6) | token]`` → ``p`` (MultiLinear + ReLU) → ``decpose`` (MultiLinear) → Δ6D;
- betas: ``[current betas | all tokens flattened joint-major]`` → ``s`` (Linear + ReLU) → ``decshape``;
- cam: ``[current cam | same flattened tokens]`` → ``c`` (Linear + ReLU) → ``deccam``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from hpskit.core import ConfigError, ShapeError, check_shape
from hpskit.geometry.rotations import rot6d_to_rotmat

from .mean_params import default_mean_params
from .multilinear import MultiLinear

__all__ = ["RegressorOutput", "DPoSERegressor"]


class RegressorOutput(NamedTuple):
    """Outputs of :class:`DPoSERegressor`.

    Attributes:
        pose_6d: Per-joint 6D rotations (hpskit/authors' layout), (B, J, 6); joint 0 = global orientation
            in the camera frame, 1..21 body joints.
        pose_rotmat: The same as rotation matrices, (B, J, 3, 3).
        betas: Shape coefficients, (B, num_betas).
        cam: Crop camera (s, tx, ty), (B, 3).
    """

    pose_6d: Tensor
    pose_rotmat: Tensor
    betas: Tensor
    cam: Tensor


class DPoSERegressor(nn.Module):
    """Per-joint pose heads plus global shape and camera heads, one update from the mean parameters.

    Args:
        num_joints: Joints J (= part tokens), 22.
        att_channels: Channels of the attended part features, 720.
        bbox_dim: Size of the CLIFF box vector, 3 (0: no box slot).
        depth_channels: Channels of the depth feature, 48 (0: no depth slot; pass ``depth_feat=None``).
        hidden: Hidden width of each head, 32.
        num_betas: Shape coefficients, 11.

    Attributes:
        init_pose: Buffer (1, J*6), the start 6D pose (persistent: it is in the authors' checkpoint).
        init_shape: Buffer (1, num_betas).
        init_cam: Buffer (1, 3).

    Shape:
        - tokens: (B, J, att_channels); bbox_info: (B, bbox_dim); depth_feat: (B, depth_channels, h, w) or
          (B, depth_channels).
        - output: :class:`RegressorOutput`.

    Examples:
        >>> head = DPoSERegressor()
        >>> out = head(torch.randn(2, 22, 720), torch.randn(2, 3), torch.randn(2, 48, 56, 56))
        >>> tuple(out.pose_rotmat.shape), tuple(out.betas.shape), tuple(out.cam.shape)
        ((2, 22, 3, 3), (2, 11), (2, 3))
    """

    def __init__(
        self,
        num_joints: int = 22,
        att_channels: int = 720,
        bbox_dim: int = 3,
        depth_channels: int = 48,
        hidden: int = 32,
        num_betas: int = 11,
    ):
        super().__init__()
        for name, value, low in (("num_joints", num_joints, 1), ("att_channels", att_channels, 1),
                                 ("bbox_dim", bbox_dim, 0), ("depth_channels", depth_channels, 0),
                                 ("hidden", hidden, 1), ("num_betas", num_betas, 1)):
            if int(value) < low:
                raise ConfigError(f"DPoSERegressor: `{name}` must be ≥ {low}; got {value}.")
        self.num_joints, self.att_channels, self.bbox_dim = int(num_joints), int(att_channels), int(bbox_dim)
        self.depth_channels, self.hidden, self.num_betas = int(depth_channels), int(hidden), int(num_betas)
        self.token_dim = self.att_channels + self.bbox_dim + self.depth_channels
        flat = self.num_joints * self.token_dim
        pose, shape, cam = default_mean_params(self.num_joints, self.num_betas)
        self.register_buffer("init_pose", pose[None])
        self.register_buffer("init_shape", shape[None])
        self.register_buffer("init_cam", cam[None])
        # Registration order = the authors' state-dict order: p, s, c, decpose, decshape, deccam.
        self.p = nn.Sequential(MultiLinear(self.num_joints, 6 + self.token_dim, self.hidden), nn.ReLU())
        self.s = nn.Sequential(nn.Linear(self.num_betas + flat, self.hidden), nn.ReLU())
        self.c = nn.Sequential(nn.Linear(3 + flat, self.hidden), nn.ReLU())
        self.decpose = MultiLinear(self.num_joints, self.hidden, 6)
        self.decshape = nn.Linear(self.hidden, self.num_betas)
        self.deccam = nn.Linear(self.hidden, 3)

    def initial_prediction(self, n: int) -> tuple[Tensor, Tensor]:
        """The start values (the prediction of a zero update, the mean-pose baseline) for ``n`` samples.

        Returns:
            ``(pose_rotmat, betas)``: (n, J, 3, 3) rotations and (n, num_betas) betas.
        """
        pose6d = self.init_pose.reshape(1, -1, 6).expand(n, -1, -1)
        return rot6d_to_rotmat(pose6d), self.init_shape.expand(n, -1)

    @torch.no_grad()
    def set_mean_params(
        self, pose6d: Tensor | np.ndarray, shape: Tensor | np.ndarray, cam: Tensor | np.ndarray
    ) -> None:
        """Overwrite the start parameters (e.g. from :func:`~hpskit.heads.load_mean_params`).

        Args:
            pose6d: (J*6,), (J, 6) or (1, J*6) 6D rotations in hpskit's layout.
            shape: (num_betas,) or (1, num_betas).
            cam: (3,) or (1, 3).

        Raises:
            ShapeError: If a size does not match the buffers.
        """
        for name, value in (("init_pose", pose6d), ("init_shape", shape), ("init_cam", cam)):
            buf = getattr(self, name)
            t = torch.as_tensor(np.asarray(value) if not isinstance(value, Tensor) else value)
            if t.numel() != buf.numel():
                raise ShapeError(
                    f"DPoSERegressor.set_mean_params: `{name}` needs {buf.numel()} values "
                    f"{tuple(buf.shape)}; got shape {tuple(t.shape)}.",
                    expected_shape=tuple(buf.shape),
                    actual_shape=tuple(t.shape),
                )
            buf.copy_(t.reshape(buf.shape).to(buf))

    def assemble_tokens(self, tokens: Tensor, bbox_info: Tensor | None, depth_feat: Tensor | None) -> Tensor:
        """Build the per-joint tokens ``[att | bbox | mean depth]``.

        Args:
            tokens: (B, J, att_channels).
            bbox_info: (B, bbox_dim), or ``None`` when ``bbox_dim == 0``.
            depth_feat: (B, depth_channels, h, w) or (B, depth_channels), or ``None`` when
                ``depth_channels == 0``.

        Returns:
            (B, J, token_dim).

        Raises:
            ShapeError: On a wrong shape or a missing/unexpected input.
        """
        where = "DPoSERegressor.forward"
        dims = check_shape(tokens, ("B", self.num_joints, self.att_channels), "tokens", where)
        b, j = dims["B"], self.num_joints
        parts = [tokens]
        for name, value, size in (("bbox_info", bbox_info, self.bbox_dim), ("depth_feat", depth_feat,
                                                                             self.depth_channels)):
            if size == 0:
                if value is not None:
                    raise ShapeError(f"{where}: `{name}` must be None: the regressor was built with no "
                                     f"{name} slot (size 0); got shape {tuple(value.shape)}.")
                continue
            if value is None:
                raise ShapeError(f"{where}: `{name}` is required (the regressor has a {size}-channel slot).")
            if name == "depth_feat" and value.dim() == 4:
                check_shape(value, ("B", size, "h", "w"), name, where, dims=dict(dims))
                value = value.mean(dim=(2, 3))  # global average: Φ̄
            else:
                check_shape(value, ("B", size), name, where, dims=dict(dims))
            parts.append(value.to(tokens.dtype)[:, None, :].expand(b, j, size))
        return torch.cat(parts, dim=-1)

    def forward(
        self, tokens: Tensor, bbox_info: Tensor | None = None, depth_feat: Tensor | None = None
    ) -> RegressorOutput:
        """Regress pose, shape and camera; see the class docstring for shapes.

        Raises:
            ShapeError: On a wrong shape or a missing/unexpected input.
        """
        tok = self.assemble_tokens(tokens, bbox_info, depth_feat)  # (B, J, D)
        b, j = tok.shape[:2]
        pose0 = self.init_pose.to(tok.dtype).expand(b, -1).reshape(b, j, 6)
        shape0 = self.init_shape.to(tok.dtype).expand(b, -1)
        cam0 = self.init_cam.to(tok.dtype).expand(b, -1)
        flat = tok.reshape(b, j * self.token_dim)  # joint-major: index j·D + c
        pose_6d = pose0 + self.decpose(self.p(torch.cat([pose0, tok], dim=-1)))
        betas = shape0 + self.decshape(self.s(torch.cat([shape0, flat], dim=-1)))
        cam = cam0 + self.deccam(self.c(torch.cat([cam0, flat], dim=-1)))
        return RegressorOutput(pose_6d=pose_6d, pose_rotmat=rot6d_to_rotmat(pose_6d), betas=betas, cam=cam)
