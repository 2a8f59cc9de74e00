"""SMPL (6890 vertices) for evaluation, and the SMPL-X → SMPL / vertex → joint regressions.

3DPW and EMDB ground truth is SMPL; D-PoSE predicts SMPL-X and converts its vertices with the dense
``smplx2smpl`` matrix, then regresses the H36M joints from the SMPL vertices (``formats.md`` §3, §7).
"""

from __future__ import annotations

import logging
import os

import smplx
import torch
from smplx.utils import Struct
from torch import Tensor, nn

from ..core import ShapeError, check_shape, check_tensor
from ..geometry import axis_angle_to_rotmat
from .io import load_smpl_model, load_smplx2smpl, resolve_smpl_path
from .smplx_layer import BodyOutput, _quiet_buffers, _smplx_prints_to_log

__all__ = ["SMPLBody", "smplx_to_smpl_vertices", "SMPLXToSMPL", "regress_joints"]

logger = logging.getLogger(__name__)


class SMPLBody(nn.Module):
    """SMPL body model (stateless) over :class:`smplx.SMPLLayer`, for evaluation ground truth.

    The file is read by hpskit's restricted loader (:func:`hpskit.body.load_smpl_model`) and handed to
    smplx as data, so smplx never unpickles it.

    Args:
        model_path: An SMPL ``.pkl``/``.npz`` file or a folder (see :func:`resolve_smpl_path`); ``None``
            searches ``$HPSKIT_BODY_MODELS`` and the user data dir.
        gender: ``"neutral"``, ``"male"`` or ``"female"``.
        num_betas: Shape coefficients (10 in the official files).
        dtype: Floating dtype of the buffers.

    Attributes:
        faces: (F, 3) long buffer.
        num_vertices: V (6890).

    Raises:
        MissingFileError: If the file is not found (the message says where to get it).
        CorruptFileError: Missing key, wrong shape, chumpy content or an unreadable file.
    """

    NUM_JOINTS = 24

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        gender: str = "neutral",
        num_betas: int = 10,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        path = resolve_smpl_path(model_path, gender)
        data = load_smpl_model(path, num_betas=num_betas)
        with _smplx_prints_to_log():
            self.layer = smplx.SMPLLayer(model_path=str(path), data_struct=Struct(**data), gender=gender,
                                         num_betas=num_betas, dtype=dtype)
        _quiet_buffers(self.layer)
        self.register_buffer("faces", self.layer.faces_tensor.clone(), persistent=False)
        self.model_path = path
        self.num_betas = num_betas
        self.num_vertices = int(data["v_template"].shape[0])
        logger.info("SMPLBody: loaded %s (V=%d, num_betas=%d).", path, self.num_vertices, num_betas)

    @property
    def J_regressor(self) -> Tensor:  # noqa: N802
        """Vertex → joint regressor, shape (24, V)."""
        return self.layer.J_regressor

    def extra_repr(self) -> str:
        return (f"model_path={str(self.model_path)!r}, num_vertices={self.num_vertices}, "
                f"num_betas={self.num_betas}")

    def forward(self, pose: Tensor, betas: Tensor | None = None, transl: Tensor | None = None) -> BodyOutput:
        """Pose the body; floating inputs are cast to the body's dtype and must be on its device.

        Args:
            pose: All 24 joint rotations (0 = global orientation): axis-angle (B, 72) or (B, 24, 3) in
                radians, or rotation matrices (B, 24, 3, 3).
            betas: Shape (B, num_betas); ``None`` = zeros.
            transl: Shape (B, 3), metres; ``None`` = zero.

        Returns:
            ``BodyOutput(vertices (B, V, 3), joints (B, 24, 3))``.

        Raises:
            ShapeError: If a shape, batch size or device does not fit.
        """
        where = "SMPLBody.forward"
        check_tensor(pose, "pose", where)
        dims: dict[str, int] = {}
        hint = "Pass axis-angle (B, 72) or (B, 24, 3), or rotation matrices (B, 24, 3, 3)."
        shape = {2: ("B", 72), 3: ("B", 24, 3), 4: ("B", 24, 3, 3)}.get(pose.ndim, ("B", 72))
        check_shape(pose, shape, "pose", where, dims, hint)
        args = {"pose": pose, "betas": betas, "transl": transl}
        ref = self.layer.shapedirs
        for name, size in (("betas", self.num_betas), ("transl", 3)):
            if args[name] is not None:
                check_shape(args[name], ("B", size), name, where, dims)
        for name, x in args.items():
            if x is None:
                continue
            if x.device != ref.device:
                raise ShapeError(f"{where}: `{name}` is on {x.device} but the body is on {ref.device}; "
                                 "move one of them.")
            if not x.is_floating_point():
                raise ShapeError(f"{where}: `{name}` must be floating point; got {x.dtype}.")
            args[name] = x.to(ref.dtype)
        pose = args["pose"]
        rotmats = pose if pose.ndim == 4 else axis_angle_to_rotmat(pose.reshape(pose.shape[0], 24, 3))
        out = self.layer(global_orient=rotmats[:, :1], body_pose=rotmats[:, 1:], betas=args["betas"],
                         transl=args["transl"])
        return BodyOutput(vertices=out.vertices, joints=out.joints[:, : self.NUM_JOINTS])


def smplx_to_smpl_vertices(vertices: Tensor, matrix: Tensor) -> Tensor:
    """Map SMPL-X vertices to SMPL vertices, ``V_smpl = M @ V_smplx`` (D-PoSE's evaluation conversion).

    Args:
        vertices: SMPL-X vertices, shape (B, 10475, 3) (any V_x matching ``matrix``).
        matrix: M from :func:`load_smplx2smpl`, shape (6890, 10475); cast to the vertices' device and dtype.

    Returns:
        SMPL vertices, shape (B, 6890, 3).

    Example:
        >>> smplx_to_smpl_vertices(torch.ones(2, 4, 3), torch.full((3, 4), 0.25)).shape
        torch.Size([2, 3, 3])
    """
    dims = check_shape(matrix, ("V_smpl", "V_smplx"), "matrix", "smplx_to_smpl_vertices")
    check_shape(vertices, ("B", "V_smplx", 3), "vertices", "smplx_to_smpl_vertices", dims)
    return regress_joints(vertices, matrix)


class SMPLXToSMPL(nn.Module):
    """Module twin of :func:`smplx_to_smpl_vertices` holding M as a non-persistent buffer.

    Args:
        path: ``smplx2smpl.pkl`` or a root (see :func:`load_smplx2smpl`); ignored if ``matrix`` is given.
        matrix: M, shape (V_smpl, V_smplx), to use instead of a file.
        num_smpl_vertices: Expected rows of the file's matrix.
        num_smplx_vertices: Expected columns of the file's matrix.
    """

    def __init__(self, path: str | os.PathLike | None = None, matrix: Tensor | None = None, *,
                 num_smpl_vertices: int = 6890, num_smplx_vertices: int = 10475) -> None:
        super().__init__()
        if matrix is None:
            matrix = load_smplx2smpl(path, num_smpl_vertices=num_smpl_vertices,
                                     num_smplx_vertices=num_smplx_vertices)
        self.register_buffer("matrix", matrix, persistent=False)

    def forward(self, vertices: Tensor) -> Tensor:
        """Map (B, V_smplx, 3) SMPL-X vertices to (B, V_smpl, 3) SMPL vertices."""
        return smplx_to_smpl_vertices(vertices, self.matrix)


def regress_joints(vertices: Tensor, regressor: Tensor) -> Tensor:
    """Rows of a fixed linear map of the vertices, ``J[b] = regressor @ vertices[b]``.

    The one home of this product: joint regressors (H36M (17, 6890), SMPL (24, 6890)) in
    :mod:`hpskit.metrics` and the SMPL-X → SMPL vertex matrix in :func:`smplx_to_smpl_vertices` use it.

    Args:
        vertices: Shape (B, V, 3).
        regressor: Shape (J, V), e.g. (17, 6890) from :func:`load_h36m_regressor`; cast to the vertices'
            device and dtype.

    Returns:
        Joints, shape (B, J, 3).

    Raises:
        ShapeError: If ``vertices`` is not (B, V, 3) or the regressor's columns differ from V.

    Example:
        >>> regress_joints(torch.ones(1, 5, 3), torch.full((2, 5), 0.2)).shape
        torch.Size([1, 2, 3])
    """
    dims = check_shape(vertices, ("B", "V", 3), "vertices", "regress_joints")
    check_shape(regressor, ("J", "V"), "regressor", "regress_joints", dims=dims,
                hint="The regressor's columns must match the mesh's vertex count.")
    # J[b, j, c] = Σ_v regressor[j, v] · vertices[b, v, c]
    return torch.matmul(regressor.to(device=vertices.device, dtype=vertices.dtype), vertices)
