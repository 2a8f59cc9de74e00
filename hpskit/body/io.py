"""Body-model files → validated arrays: where they are looked for, and what they must contain.

Resolution order (every loader): explicit path argument → ``$HPSKIT_BODY_MODELS`` →
:func:`hpskit.core.user_data_dir`. Under a root, the layout is the one smplx uses:

* ``<root>/smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz`` (SMPL-X v1.1, ``models_smplx_v1_1.zip``),
* ``<root>/smpl/SMPL_{NEUTRAL,MALE,FEMALE}.pkl`` (or ``.npz``),
* ``<root>/utils/smplx2smpl.pkl`` and ``<root>/utils/J_regressor_h36m.npy``.

A root may also be the model-type folder itself (``<root>/SMPLX_NEUTRAL.npz``), and an explicit file
path is used as is. Every file is checked *before* smplx sees it, so a truncated download or a wrong
file gives a :class:`~hpskit.core.CorruptFileError` that names the key and the expected shape instead of
a stack trace from deep inside smplx. Pickles are read with a restricted unpickler
(:func:`restricted_pickle_load`) that admits numpy and scipy.sparse data only. See ``formats.md`` §1–§3.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..core import BODY_MODELS_ENV, ConfigError, CorruptFileError, find_file, user_data_dir
from ._safe_pickle import npz_member_shapes, read_npz_member, restricted_pickle_load

__all__ = [
    "SMPLX_URL",
    "SMPL_URL",
    "SMPLXFileInfo",
    "resolve_smplx_path",
    "validate_smplx_npz",
    "load_smplx_npz",
    "check_finite_arrays",
    "resolve_smpl_path",
    "load_smpl_model",
    "load_smplx2smpl",
    "load_h36m_regressor",
    "restricted_pickle_load",
]

logger = logging.getLogger(__name__)

SMPLX_URL = "https://smpl-x.is.tue.mpg.de"
SMPL_URL = "https://smpl.is.tue.mpg.de"
_GENDERS = ("neutral", "male", "female")

# Expected shapes; symbols (V vertices, F faces, S shape columns) must agree across keys and bind in
# this order, so V comes from v_template (formats.md §1.2, §2.1).
_SMPLX_SPEC: dict[str, tuple] = {
    "v_template": ("V", 3), "f": ("F", 3), "J_regressor": (55, "V"), "weights": ("V", 55),
    "kintree_table": (2, 55), "shapedirs": ("V", 3, "S"), "posedirs": ("V", 3, 486),
    "hands_componentsl": (45, 45), "hands_componentsr": (45, 45), "hands_meanl": (45,),
    "hands_meanr": (45,), "lmk_faces_idx": (51,), "lmk_bary_coords": (51, 3),
}
_SMPL_SPEC: dict[str, tuple] = {
    "v_template": ("V", 3), "f": ("F", 3), "J_regressor": (24, "V"), "weights": ("V", 24),
    "kintree_table": (2, 24), "shapedirs": ("V", 3, "S"), "posedirs": ("V", 3, 207),
}


def _fmt(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _smplx_where_to_get() -> str:
    return (
        f"Register and download SMPL-X at {SMPLX_URL} (models_smplx_v1_1.zip, the v1.1 npz files), then pass "
        f"model_path=<folder or file>, or set ${BODY_MODELS_ENV}=<root> with <root>/smplx/SMPLX_NEUTRAL.npz, "
        f"or copy the files to {user_data_dir() / 'smplx'}. Without the licensed files, hpskit's "
        "licence-free stand-in body works everywhere: SMPLXBody(model_path='standin')."
    )


def _smpl_where_to_get() -> str:
    return (
        f"Register and download SMPL at {SMPL_URL} (SMPL_python_v.1.1.0; rename "
        "basicmodel_{neutral,m,f}_lbs_10_207_0_v1.1.0.pkl to SMPL_{NEUTRAL,MALE,FEMALE}.pkl and, if they "
        "hold chumpy objects, clean them with smplx's tools/clean_ch.py), then pass "
        "model_path=<folder or file>, or "
        f"set ${BODY_MODELS_ENV}=<root> with <root>/smpl/SMPL_NEUTRAL.pkl, or copy them to "
        f"{user_data_dir() / 'smpl'}."
    )


def _gender(gender: str, where: str) -> str:
    if not isinstance(gender, str) or gender.lower() not in _GENDERS:
        raise ConfigError(f"{where}: `gender` must be one of {_GENDERS}; got {gender!r}.")
    return gender.upper()


def _find(relative, what: str, explicit, where_to_get: str) -> Path:
    """hpskit.core.find_file, except that an explicit argument is final: a wrong path is an error,
    not a silent fall-through to the environment or the user data dir."""
    if explicit is not None:
        return find_file(relative, what=what, explicit=explicit, env_var=None, search_user_dir=False,
                         where_to_get=where_to_get)
    return find_file(relative, what=what, env_var=BODY_MODELS_ENV, where_to_get=where_to_get)


def _max_extra_vertex_id(model: str) -> int:
    """Largest vertex id smplx's VertexJointSelector reads for ``model`` ('smplx' or 'smplh')."""
    from smplx.vertex_ids import vertex_ids

    return max(int(v) for v in vertex_ids[model].values())


def _check_shapes(shapes: dict, spec: dict, source: str, what: str, fix: str) -> dict[str, int]:
    missing = [k for k in spec if k not in shapes]
    if missing:
        items = ", ".join(f"'{k}' (expected shape {_fmt(spec[k])})" for k in missing)
        raise CorruptFileError(f"{what} '{source}' is missing key(s) {items}. {fix}")
    dims: dict[str, int] = {}
    origin: dict[str, str] = {}
    for key, pattern in spec.items():
        got = tuple(shapes[key])
        ok = len(got) == len(pattern)
        for p, g in zip(pattern, got):
            if isinstance(p, int):
                ok &= p == g
            elif p in dims:
                ok &= dims[p] == g
        if not ok:
            bound = ", ".join(f"{s} = {dims[s]} (from '{origin[s]}')" for s in pattern if s in dims)
            raise CorruptFileError(
                f"{what} '{source}': key '{key}' has shape {_fmt(got)}; expected {_fmt(pattern)}"
                f"{' with ' + bound if bound else ''}. {fix}"
            )
        for p, g in zip(pattern, got):
            if isinstance(p, str) and p not in dims:
                dims[p], origin[p] = g, key
    return dims


def _check_tree(kintree: np.ndarray, source: str, what: str, fix: str) -> None:
    parents = np.asarray(kintree)[0].astype(np.int64)
    bad = [i for i in range(1, len(parents)) if not 0 <= parents[i] < i]
    if bad:
        raise CorruptFileError(
            f"{what} '{source}': 'kintree_table' row 0 must hold each joint's parent, with "
            f"0 <= parent[i] < i for i >= 1; joint(s) {bad} violate it. {fix}"
        )


def _check_index_range(arr, upper: int, key: str, bound: str, source: str, what: str, fix: str) -> None:
    arr = np.asarray(arr)
    if arr.size and (arr.min() < 0 or arr.max() >= upper):
        raise CorruptFileError(
            f"{what} '{source}': '{key}' holds indices in [{arr.min()}, {arr.max()}]; they must lie in "
            f"[0, {bound} - 1 = {upper - 1}]. {fix}"
        )


@dataclass(frozen=True)
class SMPLXFileInfo:
    """What :func:`validate_smplx_npz` found in an SMPL-X file.

    Attributes:
        path: The file.
        num_vertices: V.
        num_faces: F.
        shape_columns: Columns of ``shapedirs`` (400 in v1.1: 300 shape + 100 expression; 20 in v1.0).
        max_betas: Shape coefficients usable with smplx (300 for v1.1, 10 for v1.0).
    """

    path: Path
    num_vertices: int
    num_faces: int
    shape_columns: int
    max_betas: int


def resolve_smplx_path(model_path: str | os.PathLike | None = None, gender: str = "neutral") -> Path:
    """Find ``SMPLX_{GENDER}.npz``: argument → ``$HPSKIT_BODY_MODELS`` → user data dir.

    Args:
        model_path: A file, a root holding ``smplx/SMPLX_{G}.npz``, the ``smplx`` folder itself, the string
            ``"standin"`` (the licence-free stand-in body) or ``None`` (environment, then user data dir).
        gender: ``"neutral"``, ``"male"`` or ``"female"``.

    Returns:
        The path of the file (not validated yet; see :func:`validate_smplx_npz`).

    Raises:
        MissingFileError: Naming the file, every place looked in and where to register and download it.
        ConfigError: If ``gender`` is unknown.
    """
    g = _gender(gender, "resolve_smplx_path")
    if isinstance(model_path, str) and model_path == "standin":
        from .standin import standin_path

        return Path(standin_path())
    return _find(f"smplx/SMPLX_{g}.npz", "SMPL-X model file", model_path, _smplx_where_to_get())


def _smplx_layout(cols: int, source: str, fix: str) -> int:
    """Usable betas for ``cols`` shapedirs columns, by smplx 0.1.28's rules (formats.md §1.3)."""
    if cols >= 400:
        return 300
    if 20 <= cols < 300:
        return 10  # v1.0: 10 shape + 10 expression; smplx reads expression from columns 10:20
    raise CorruptFileError(
        f"SMPL-X model file '{source}': 'shapedirs' has {cols} columns; smplx understands 400 (v1.1: "
        f"300 shape + 100 expression) or 20 (v1.0: 10 + 10). With {cols} it would read expression "
        f"from the wrong columns. {fix}"
    )


def validate_smplx_npz(path: str | os.PathLike, num_betas: int | None = None) -> SMPLXFileInfo:
    """Check an SMPL-X ``.npz`` before smplx loads it (headers only, plus a few small arrays).

    Checks every key smplx requires (``formats.md`` §1.2) and its shape, the kinematic tree, the face and
    landmark index ranges, that the mesh has the vertices smplx's extra joints read (ids up to 9929),
    and, if ``num_betas`` is given, that the file has that many shape components.

    Args:
        path: The ``.npz`` file.
        num_betas: Shape coefficients the caller wants (``None``: not checked).

    Returns:
        What was found.

    Raises:
        CorruptFileError: Naming the missing key, or the key with its actual and expected shape.
    """
    path = Path(path)
    what = "SMPL-X model file"
    fix = f"Download models_smplx_v1_1.zip again from {SMPLX_URL}."
    if path.suffix.lower() != ".npz":
        raise CorruptFileError(
            f"{what} '{path}': hpskit reads the SMPL-X .npz files (v1.1); got '{path.name}'. {fix}")
    shapes = npz_member_shapes(path)
    dims = _check_shapes(shapes, _SMPLX_SPEC, str(path), what, fix)
    max_betas = _smplx_layout(dims["S"], str(path), fix)
    _check_tree(read_npz_member(path, "kintree_table"), str(path), what, fix)
    _check_index_range(read_npz_member(path, "f"), dims["V"], "f", "V", str(path), what, fix)
    _check_index_range(read_npz_member(path, "lmk_faces_idx"), dims["F"], "lmk_faces_idx", "F", str(path),
                       what, fix)
    if num_betas is not None and not 1 <= num_betas <= max_betas:
        extra = (" This is a v1.0 file (20 columns: 10 shape + 10 expression); num_betas > 10 needs the v1.1 "
                 "file (400 columns) from models_smplx_v1_1.zip." if max_betas == 10 else "")
        raise CorruptFileError(
            f"{what} '{path}' provides {max_betas} shape components; num_betas={num_betas} was asked "
            f"for.{extra} "
            f"Use 1 <= num_betas <= {max_betas} or a v1.1 file from {SMPLX_URL}."
        )
    need = _max_extra_vertex_id("smplx") + 1
    if dims["V"] < need:
        raise CorruptFileError(
            f"{what} '{path}' has V = {dims['V']} vertices; smplx reads its extra joints (nose, eyes, ears, "
            f"toes, heels, finger tips) from vertex ids up to {need - 1}, so V must be at least {need} "
            f"(SMPL-X has 10475). {fix}"
        )
    return SMPLXFileInfo(path, dims["V"], dims["F"], dims["S"], max_betas)


def check_finite_arrays(arrays, source: str, what: str, fix: str = "") -> None:
    """Refuse body-model arrays holding NaN or infinity (they would silently turn every output into NaN).

    Args:
        arrays: Name -> numpy array or tensor; non-float members (indices, pickled objects) are skipped.
        source: The file, for the message.
        what: Human name of the file.
        fix: Sentence appended to the message.

    Raises:
        CorruptFileError: Naming each key with non-finite values and how many there are.
    """
    bad = []
    for key, arr in arrays.items():
        if isinstance(arr, torch.Tensor):
            if arr.is_floating_point() and arr.numel():
                n = int((~torch.isfinite(arr)).sum())
                if n:
                    bad.append(f"'{key}' ({n:,} of {arr.numel():,} values)")
            continue
        arr = _densify(arr)
        if isinstance(arr, np.ndarray) and np.issubdtype(arr.dtype, np.floating) and arr.size:
            n = int((~np.isfinite(arr)).sum())
            if n:
                bad.append(f"'{key}' ({n:,} of {arr.size:,} values)")
    if bad:
        raise CorruptFileError(f"{what} '{source}' holds NaN or infinite numbers in {', '.join(bad)}; every "
                               f"mesh and joint computed from it would be NaN. {fix}".rstrip())


def _densify(x):
    return np.asarray(x.toarray()) if hasattr(x, "toarray") else x


def load_smplx_npz(path: str | os.PathLike, num_betas: int | None = None) -> dict[str, np.ndarray]:
    """Validate (see :func:`validate_smplx_npz`) and load an SMPL-X ``.npz`` into numpy arrays.

    Args:
        path: The ``.npz`` file.
        num_betas: Optional shape-coefficient count to check.

    Returns:
        Every member; ``J_regressor`` is dense (55, V) even if stored as scipy.sparse. Pickled members
        (e.g. ``joint2num``) come back as the objects they hold, read with the restricted unpickler.

    Raises:
        CorruptFileError: As :func:`validate_smplx_npz`, or if a float array holds NaN or infinity.
    """
    validate_smplx_npz(path, num_betas)
    out = {key: read_npz_member(path, key) for key in npz_member_shapes(path)}
    out["J_regressor"] = _densify(out["J_regressor"])
    check_finite_arrays(out, str(path), "SMPL-X model file", f"Download models_smplx_v1_1.zip again from "
                                                             f"{SMPLX_URL}.")
    return out


def resolve_smpl_path(model_path: str | os.PathLike | None = None, gender: str = "neutral") -> Path:
    """Find ``SMPL_{GENDER}.pkl`` (or ``.npz``): argument → ``$HPSKIT_BODY_MODELS`` → user data dir.

    Args:
        model_path: A file, a root holding ``smpl/SMPL_{G}.pkl``, the ``smpl`` folder itself, or ``None``.
        gender: ``"neutral"``, ``"male"`` or ``"female"``.

    Returns:
        The path of the file.

    Raises:
        MissingFileError: Naming the file, every place looked in and where to register and download it.
    """
    g = _gender(gender, "resolve_smpl_path")
    return _find([f"smpl/SMPL_{g}.pkl", f"smpl/SMPL_{g}.npz"], "SMPL model file", model_path,
                 _smpl_where_to_get())


def load_smpl_model(path: str | os.PathLike, num_betas: int | None = None) -> dict[str, np.ndarray]:
    """Load and validate an SMPL model (chumpy-free ``.pkl`` or ``.npz``) without running pickled code.

    Args:
        path: The file.
        num_betas: Optional shape-coefficient count to check against ``shapedirs``.

    Returns:
        The arrays; ``J_regressor`` densified to (24, V).

    Raises:
        CorruptFileError: Missing key / wrong shape (named with the expected shape), chumpy content (with
            the ``clean_ch.py`` hint), or an unreadable file.
    """
    path = Path(path)
    what, fix = "SMPL model file", f"Download it again from {SMPL_URL}."
    if path.suffix.lower() == ".npz":
        data = {k: read_npz_member(path, k) for k in npz_member_shapes(path)}
    else:
        data = restricted_pickle_load(path)
        if not isinstance(data, dict):
            raise CorruptFileError(
                f"{what} '{path}' must unpickle to a dict; got {type(data).__name__}. {fix}")
    shapes = {k: tuple(getattr(v, "shape", np.shape(v))) for k, v in data.items()}
    dims = _check_shapes(shapes, _SMPL_SPEC, str(path), what, fix)
    _check_tree(data["kintree_table"], str(path), what, fix)
    _check_index_range(data["f"], dims["V"], "f", "V", str(path), what, fix)
    need = _max_extra_vertex_id("smplh") + 1
    if dims["V"] < need:
        raise CorruptFileError(f"{what} '{path}' has V = {dims['V']} vertices; smplx's extra joints need at "
                               f"least {need} (SMPL has 6890). {fix}")
    if num_betas is not None and not 1 <= num_betas <= dims["S"]:
        raise CorruptFileError(f"{what} '{path}' provides {dims['S']} shape components; "
                               f"num_betas={num_betas} was asked for. Use 1 <= num_betas <= {dims['S']}.")
    data = dict(data)
    data["J_regressor"] = _densify(data["J_regressor"])
    check_finite_arrays(data, str(path), what, fix)
    return data


def load_smplx2smpl(
    path: str | os.PathLike | None = None, *, num_smpl_vertices: int = 6890, num_smplx_vertices: int = 10475
) -> Tensor:
    """Load ``smplx2smpl.pkl``: the dense matrix M with ``V_smpl = M @ V_smplx`` (``formats.md`` §3).

    Args:
        path: The file, or a root holding ``utils/smplx2smpl.pkl``; ``None`` searches
            ``$HPSKIT_BODY_MODELS`` and the user data dir.
        num_smpl_vertices: Expected rows (6890).
        num_smplx_vertices: Expected columns (10475).

    Returns:
        M, shape (num_smpl_vertices, num_smplx_vertices), float32 (a scipy.sparse matrix is densified).

    Raises:
        MissingFileError: If not found (the message says where it comes from).
        CorruptFileError: No ``matrix`` key, wrong shape, or unreadable.
    """
    p = _find("utils/smplx2smpl.pkl", "SMPL-X→SMPL vertex mapping", path,
              "D-PoSE and BEDLAM ship it in data/utils/ (BEDLAM's utils.zip, https://bedlam.is.tue.mpg.de); "
              "put it in <root>/utils/ or pass its path.")
    obj = restricted_pickle_load(p)
    expected = (num_smpl_vertices, num_smplx_vertices)
    if not isinstance(obj, dict) or "matrix" not in obj:
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise CorruptFileError(f"'{p}' must be a pickled dict with key 'matrix' of shape {_fmt(expected)}; "
                               f"got {keys}.")
    m = _densify(obj["matrix"])
    m = np.asarray(m)
    if m.shape != expected:
        raise CorruptFileError(f"'{p}': key 'matrix' has shape {_fmt(m.shape)}; expected {_fmt(expected)} "
                               "(SMPL vertices × SMPL-X vertices).")
    return torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))


def load_h36m_regressor(path: str | os.PathLike | None = None, *, num_vertices: int = 6890) -> Tensor:
    """Load ``J_regressor_h36m.npy``: 17 Human3.6M joints from SMPL vertices (``formats.md`` §3).

    Args:
        path: The file, or a root holding ``utils/J_regressor_h36m.npy``; ``None`` searches
            ``$HPSKIT_BODY_MODELS`` and the user data dir.
        num_vertices: Expected columns (6890, SMPL).

    Returns:
        The regressor, shape (17, num_vertices), float32, C-contiguous (the file is Fortran-ordered).

    Raises:
        MissingFileError: If not found.
        CorruptFileError: Wrong shape, pickled content or unreadable.
    """
    p = _find("utils/J_regressor_h36m.npy", "H36M joint regressor", path,
              "It ships with SPIN's data and BEDLAM's utils.zip (https://bedlam.is.tue.mpg.de); "
              "put it in <root>/utils/ or pass its path.")
    try:
        arr = np.load(p, allow_pickle=False)
    except (ValueError, EOFError, OSError) as e:
        raise CorruptFileError(f"Cannot read '{p}' as a numeric .npy ({type(e).__name__}: {e}); the file "
                               "may be truncated; download it again.") from e
    if not isinstance(arr, np.ndarray) or arr.shape != (17, num_vertices):
        got = _fmt(arr.shape) if isinstance(arr, np.ndarray) else type(arr).__name__
        raise CorruptFileError(f"'{p}' has shape {got}; expected {_fmt((17, num_vertices))} (H36M joints × "
                               "SMPL vertices).")
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
