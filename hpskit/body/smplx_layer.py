"""SMPLXBody: a stateless SMPL-X layer (rotation matrices or 6D in; vertices and 127 joints out).

A thin wrapper over :class:`smplx.SMPLXLayer` (we hold one, we never subclass it). What the
wrapper adds: file resolution and validation before smplx opens the file (:mod:`hpskit.body.io`), the
licence-free stand-in body as a fallback, 6D inputs, identity/zero defaults for everything optional,
input checks with readable errors, and buffers that follow ``.to()`` but never enter a ``state_dict``
(SMPL-X data must not end up in a shared checkpoint).

The forward pass is :mod:`hpskit.body.posing`: smplx's own functions on the layer's buffers (bit-identical
to ``SMPLXLayer.forward``), with the kinematic tree read to host ints once at load time, so posing a body
never waits for the GPU.
"""

from __future__ import annotations

import contextlib
import io as _io
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import smplx
import torch
from torch import Tensor, nn

from ..core import (
    BODY_MODELS_ENV,
    ConfigError,
    CorruptFileError,
    MissingFileError,
    ShapeError,
    check_shape,
    check_tensor,
)
from ..geometry import axis_angle_to_rotmat, rot6d_to_rotmat
from .io import check_finite_arrays, resolve_smplx_path, validate_smplx_npz
from .joint_sets import NUM_SMPLX_BODY_POSE_JOINTS, NUM_SMPLX_HAND_JOINTS
from .posing import _smplx_forward

__all__ = ["BodyOutput", "SMPLXBody"]

logger = logging.getLogger(__name__)


@dataclass
class BodyOutput:
    """Posed body.

    Attributes:
        vertices: Mesh vertices, shape (B, V, 3), metres, body frame (+ ``transl`` if given).
        joints: Joints, shape (B, J, 3): J = 127 for SMPL-X (55 skeleton + 21 vertex-picked + 51 face
            landmarks, :data:`hpskit.body.SMPLX_JOINT_NAMES`), J = 24 for SMPL.
    """

    vertices: Tensor
    joints: Tensor


def _standin_file(gender: str) -> Path:
    from .standin import standin_path  # lazy: the stand-in module is optional at import time

    if gender.lower() != "neutral":
        logger.warning("The stand-in body has one (neutral) gender; gender=%r is ignored.", gender)
    return Path(standin_path())


def _resolve(model_path, gender: str) -> tuple[Path, bool]:
    if isinstance(model_path, str) and model_path == "standin":
        return _standin_file(gender), True
    if model_path is not None:
        return resolve_smplx_path(model_path, gender), False
    try:
        return resolve_smplx_path(None, gender), False
    except MissingFileError as missing:
        try:
            path = _standin_file(gender)
        except (ImportError, OSError) as e:  # OSError includes MissingFileError from a missing asset
            raise MissingFileError(f"{missing} (The stand-in body is not available either: {e}.)") from e
        env = os.environ.get(BODY_MODELS_ENV)
        if env:  # configured, but the folder has no file: say so, and where hpskit looked
            logger.warning("$%s=%s has no SMPL-X file for gender %r (looked for %s and %s), so hpskit is "
                           "using the licence-free stand-in body (%s). It is not SMPL-X: put "
                           "SMPLX_%s.npz there or pass model_path=.", BODY_MODELS_ENV, env, gender,
                           Path(env) / "smplx" / f"SMPLX_{gender.upper()}.npz",
                           Path(env) / f"SMPLX_{gender.upper()}.npz", path, gender.upper())
        else:
            logger.warning("No SMPL-X model file is configured, so hpskit is using the licence-free stand-in "
                           "body (%s). It is not SMPL-X: set $HPSKIT_BODY_MODELS or pass model_path= for the "
                           "real model.", path)
        return path, True


def _quiet_buffers(module: nn.Module) -> None:
    """Keep every buffer out of ``state_dict``: body-model data is licensed and reloaded from its file."""
    for m in module.modules():
        m._non_persistent_buffers_set.update(m._buffers.keys())


@contextlib.contextmanager
def _smplx_prints_to_log():
    """smplx reports problems with ``print``; route them to our logger."""
    buf = _io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield
    for line in buf.getvalue().splitlines():
        if line.strip():
            logger.warning("smplx: %s", line.strip())


class SMPLXBody(nn.Module):
    """SMPL-X body model (stateless): pose and shape in, vertices and 127 joints out.

    Rotations are rotation matrices (column-vector convention) or 6D in the authors' row-major layout.
    Hands, jaw and eyes default to identity rotations (flat hands, as ``SMPLXLayer``), expression and
    translation to zero.

    Args:
        model_path: An SMPL-X ``.npz`` file or a folder (see :func:`resolve_smplx_path`); ``"standin"`` for
            the licence-free stand-in body; ``None``: the configured real file if any, else the stand-in
            (with a logged warning).
        gender: ``"neutral"``, ``"male"`` or ``"female"``.
        num_betas: Shape coefficients (11 in D-PoSE; needs a v1.1 file for more than 10).
        num_expression_coeffs: Expression coefficients (10; at most 100, and smplx caps v1.0 files at 10).
        dtype: Floating dtype of the buffers (``.to()`` changes it later).

    Attributes:
        faces: (F, 3) long buffer.
        num_vertices: V (10475 for SMPL-X).
        is_standin: Whether the stand-in body is loaded.
        model_path: The file that was loaded.

    Raises:
        MissingFileError: If an explicit file is missing, or nothing is configured and no stand-in exists.
        CorruptFileError: If the file lacks a key, has a wrong shape or too few shape components.

    Example:
        >>> body = SMPLXBody("standin")  # doctest: +SKIP
        >>> pose = torch.eye(3).expand(2, 22, 3, 3)  # doctest: +SKIP
        >>> out = body(pose[:, :1], pose[:, 1:], torch.zeros(2, 11))  # doctest: +SKIP
        >>> out.vertices.shape[-1], out.joints.shape[1:]  # doctest: +SKIP
        (3, torch.Size([127, 3]))
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        gender: str = "neutral",
        num_betas: int = 11,
        num_expression_coeffs: int = 10,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if not isinstance(num_betas, int) or num_betas < 1:
            raise ConfigError(f"SMPLXBody: `num_betas` must be a positive int; got {num_betas!r}.")
        if not isinstance(num_expression_coeffs, int) or not 0 <= num_expression_coeffs <= 100:
            raise ConfigError(f"SMPLXBody: `num_expression_coeffs` must be an int in [0, 100]; got "
                              f"{num_expression_coeffs!r}.")
        path, self.is_standin = _resolve(model_path, gender)
        info = validate_smplx_npz(path, num_betas=num_betas)
        try:
            with _smplx_prints_to_log():
                self.layer = smplx.SMPLXLayer(
                    model_path=str(path), gender=gender, num_betas=num_betas,
                    num_expression_coeffs=num_expression_coeffs, use_pca=False, flat_hand_mean=True,
                    use_face_contour=False, dtype=dtype)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
            raise CorruptFileError(f"SMPL-X model file '{path}' passed validation but smplx could not "
                                   f"load it ({type(e).__name__}: {e}); download it again.") from e
        check_finite_arrays(dict(self.layer.named_buffers()), str(path), "SMPL-X model file",
                            "Download models_smplx_v1_1.zip again from https://smpl-x.is.tue.mpg.de.")
        _quiet_buffers(self.layer)
        with np.load(path, allow_pickle=False) as z:
            means = [np.asarray(z[k], dtype=np.float32).reshape(15, 3) if k in z.files else
                     np.zeros((15, 3), np.float32) for k in ("hands_meanl", "hands_meanr")]
        # smplx's relaxed mean hand pose (its SMPLX default: use_pca, flat_hand_mean=False), (2, 15, 3, 3)
        mean_hands = axis_angle_to_rotmat(torch.from_numpy(np.stack(means))).to(dtype)
        self.register_buffer("mean_hand_rotmats", mean_hands, persistent=False)
        self.register_buffer("faces", torch.from_numpy(np.asarray(self.layer.faces, dtype=np.int64)),
                             persistent=False)
        # The kinematic tree as host ints (read once here, on the CPU) and parents[1:] as a device index.
        self._parents = [int(p) for p in self.layer.parents.tolist()]
        self.register_buffer("_parent_idx", self.layer.parents[1:].clone(), persistent=False)
        if self.layer.use_face_contour or self.layer.joint_mapper is not None:  # pragma: no cover
            raise ConfigError("SMPLXBody: the layer must have no face contour and no joint mapper.")
        self.model_path = path
        self.gender = gender.lower()
        self.num_vertices = info.num_vertices
        self.num_betas = num_betas
        self.num_expression_coeffs = self.layer.num_expression_coeffs
        logger.info("SMPLXBody: loaded %s%s (V=%d, F=%d, num_betas=%d).", path,
                    " (stand-in body)" if self.is_standin else "", info.num_vertices, info.num_faces,
                    num_betas)

    def mean_hands(self, batch_size: int) -> dict[str, Tensor]:
        """smplx's relaxed mean hand pose (the file's ``hands_mean{l,r}``), as keyword arguments.

        smplx's ``SMPLX`` class poses hands at this mean by default (``flat_hand_mean=False``); the authors'
        training poses its ground-truth bodies so (docs/authors-code.md (g)). ``SMPLXBody`` itself defaults
        to flat hands.

        Args:
            batch_size: B.

        Returns:
            ``{"left_hand_pose": (B, 15, 3, 3), "right_hand_pose": (B, 15, 3, 3)}`` for :meth:`forward` /
            :meth:`forward_pose`.
        """
        m = self.mean_hand_rotmats
        return {"left_hand_pose": m[0].expand(batch_size, -1, -1, -1),
                "right_hand_pose": m[1].expand(batch_size, -1, -1, -1)}

    @property
    def lbs_weights(self) -> Tensor:
        """Skinning weights, shape (V, 55)."""
        return self.layer.lbs_weights

    @property
    def v_template(self) -> Tensor:
        """Rest-pose vertices, shape (V, 3)."""
        return self.layer.v_template

    @property
    def J_regressor(self) -> Tensor:  # noqa: N802 - the name every SMPL paper uses
        """Vertex → skeleton-joint regressor, shape (55, V)."""
        return self.layer.J_regressor

    def extra_repr(self) -> str:
        return (f"model_path={str(self.model_path)!r}, is_standin={self.is_standin}, gender={self.gender!r}, "
                f"num_vertices={self.num_vertices}, num_betas={self.num_betas}")

    def _prep(self, x: Tensor, name: str, dims: dict) -> Tensor:
        ref = self.layer.shapedirs
        if x.device != ref.device:
            raise ShapeError(f"SMPLXBody.forward: `{name}` is on {x.device} but the body is on {ref.device}; "
                             f"move one of them (body.to({str(x.device)!r})).")
        if not x.is_floating_point():
            raise ShapeError(f"SMPLXBody.forward: `{name}` must be floating point; got {x.dtype}.")
        return x.to(ref.dtype)

    def _rotmats(self, x: Tensor | None, n: int, name: str, dims: dict) -> Tensor | None:
        """(B, n, 3, 3) | (B, n, 6), or for n = 1 also (B, 3, 3) | (B, 6)  →  (B, n, 3, 3)."""
        if x is None:
            return None
        where = "SMPLXBody.forward"
        check_tensor(x, name, where)
        hint = f"Pass rotation matrices (B, {n}, 3, 3) or 6D rotations (B, {n}, 6)."
        if x.ndim >= 1 and x.shape[-1] == 6:
            shape = ("B", 6) if (n == 1 and x.ndim == 2) else ("B", n, 6)
            check_shape(x, shape, name, where, dims, hint)
            x = rot6d_to_rotmat(self._prep(x, name, dims))
        else:
            shape = ("B", 3, 3) if (n == 1 and x.ndim == 3) else ("B", n, 3, 3)
            check_shape(x, shape, name, where, dims, hint)
            x = self._prep(x, name, dims)
        return x.reshape(x.shape[0], n, 3, 3)

    def forward(
        self,
        global_orient: Tensor,
        body_pose: Tensor,
        betas: Tensor | None = None,
        left_hand_pose: Tensor | None = None,
        right_hand_pose: Tensor | None = None,
        jaw_pose: Tensor | None = None,
        leye_pose: Tensor | None = None,
        reye_pose: Tensor | None = None,
        expression: Tensor | None = None,
        transl: Tensor | None = None,
    ) -> BodyOutput:
        """Pose the body.

        Floating inputs are cast to the body's dtype; they must be on its device.

        Args:
            global_orient: Root rotation, shape (B, 1, 3, 3) or (B, 3, 3), or 6D (B, 1, 6) or (B, 6).
            body_pose: Joints 1..21, shape (B, 21, 3, 3) or 6D (B, 21, 6).
            betas: Shape coefficients, shape (B, num_betas); ``None`` = zeros.
            left_hand_pose: (B, 15, 3, 3) or (B, 15, 6); ``None`` = identity (flat hand).
            right_hand_pose: As ``left_hand_pose``.
            jaw_pose: (B, 1, 3, 3), (B, 3, 3) or 6D; ``None`` = identity.
            leye_pose: As ``jaw_pose``.
            reye_pose: As ``jaw_pose``.
            expression: (B, num_expression_coeffs); ``None`` = zeros.
            transl: Translation added to vertices and joints, shape (B, 3), metres; ``None`` = zero.

        Returns:
            ``BodyOutput(vertices (B, V, 3), joints (B, 127, 3))``.

        Raises:
            ShapeError: If a shape, batch size or device does not fit.
        """
        dims: dict[str, int] = {}
        global_orient = self._rotmats(global_orient, 1, "global_orient", dims)
        body_pose = self._rotmats(body_pose, NUM_SMPLX_BODY_POSE_JOINTS, "body_pose", dims)
        left_hand_pose = self._rotmats(left_hand_pose, NUM_SMPLX_HAND_JOINTS, "left_hand_pose", dims)
        right_hand_pose = self._rotmats(right_hand_pose, NUM_SMPLX_HAND_JOINTS, "right_hand_pose", dims)
        jaw_pose = self._rotmats(jaw_pose, 1, "jaw_pose", dims)
        leye_pose = self._rotmats(leye_pose, 1, "leye_pose", dims)
        reye_pose = self._rotmats(reye_pose, 1, "reye_pose", dims)
        vectors = {}
        for name, x, size in (("betas", betas, self.num_betas),
                              ("expression", expression, self.num_expression_coeffs), ("transl", transl, 3)):
            if x is not None:
                check_shape(x, ("B", size), name, "SMPLXBody.forward", dims)
                x = self._prep(x, name, dims)
            vectors[name] = x
        vertices, joints = _smplx_forward(
            self.layer, self._parents, self._parent_idx, global_orient, body_pose, vectors["betas"],
            left_hand_pose, right_hand_pose, jaw_pose, leye_pose, reye_pose, vectors["expression"],
            vectors["transl"])
        return BodyOutput(vertices=vertices, joints=joints)

    def forward_pose(self, pose: Tensor, betas: Tensor | None = None, **kwargs: Tensor | None) -> BodyOutput:
        """Pose the body from the 22 rotations D-PoSE predicts (0 = global orientation, 1..21 = body).

        Args:
            pose: Shape (B, 22, 3, 3) or 6D (B, 22, 6).
            betas: Shape (B, num_betas) or ``None``.
            **kwargs: Any other argument of :meth:`forward` (hands, jaw, eyes, expression, transl).

        Returns:
            As :meth:`forward`.
        """
        check_tensor(pose, "pose", "SMPLXBody.forward_pose")
        hint = "Pass (B, 22, 3, 3) rotation matrices or (B, 22, 6) 6D rotations."
        shape = ("B", 22, 3, 3) if pose.ndim == 4 else ("B", 22, 6)
        check_shape(pose, shape, "pose", "SMPLXBody.forward_pose", hint=hint)
        return self(pose[:, :1], pose[:, 1:], betas, **kwargs)
