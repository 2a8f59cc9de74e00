"""``hpskit info``: versions, devices, where body models are looked for and what was found."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from importlib import metadata

NAME = "info"
HELP = "show versions, devices, body-model search paths and the stand-in body"
DESCRIPTION = """\
Show the hpskit / torch / CUDA versions, optional packages, where body models are looked for
($HPSKIT_BODY_MODELS, then the user data dir; layout <root>/smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz and
<root>/smpl/SMPL_{...}.pkl) and whether they were found, and the licence-free stand-in body.
Nothing is downloaded, expanded or written.
"""

_PACKAGES = ("torch", "torchvision", "timm", "smplx", "kornia", "safetensors", "huggingface-hub", "numpy",
             "pillow", "onnx", "onnxruntime", "onnxscript")
_GENDERS = ("neutral", "male", "female")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the information as JSON")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _body_file(resolve, gender: str, validate=None) -> dict:
    from hpskit.core import HPSKitError, MissingFileError

    try:
        path = resolve(None, gender)
    except MissingFileError:
        return {"found": False, "path": None}
    entry = {"found": True, "path": str(path)}
    if validate is not None:
        try:
            found = validate(path)
            entry["valid"] = True
            entry["vertices"] = found.num_vertices
            entry["max_betas"] = found.max_betas
        except HPSKitError as exc:
            entry["valid"] = False
            entry["problem"] = str(exc)
    return entry


def collect() -> dict:
    """Everything ``hpskit info`` shows, as a JSON-ready dict."""
    import torch

    from hpskit import __version__
    from hpskit.body import resolve_smpl_path, resolve_smplx_path, validate_smplx_npz
    from hpskit.body.standin import STANDIN_ASSET
    from hpskit.core import BODY_MODELS_ENV, user_data_dir

    cuda = torch.cuda.is_available()
    data_dir = user_data_dir()
    env = os.environ.get(BODY_MODELS_ENV)
    roots = ([f"${BODY_MODELS_ENV} = {env}"] if env else []) + [f"user data dir = {data_dir}"]
    asset = os.path.join(os.path.dirname(os.path.abspath(sys.modules["hpskit.body"].__file__)), STANDIN_ASSET)
    # standin_path()'s documented layout; computed, not called, because calling it expands the body.
    expanded = data_dir / "body_models" / "smplx" / "standin" / "SMPLX_NEUTRAL.npz"
    return {
        "hpskit": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cuda_available": cuda,
        "cuda_devices": ([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
                         if cuda else []),
        "cpu_threads": torch.get_num_threads(),
        "packages": {name: _version(name) for name in _PACKAGES},
        "user_data_dir": str(data_dir),
        "user_data_dir_from_env": bool(os.environ.get("HPSKIT_DATA_DIR")),
        "body_models": {
            "env_var": BODY_MODELS_ENV,
            "env_value": env,
            "search_order": ["argument (model_path= / --body-model)", *roots],
            "layout": "<root>/smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz, <root>/smpl/SMPL_{...}.pkl",
            "smplx": {g: _body_file(resolve_smplx_path, g, validate_smplx_npz) for g in _GENDERS},
            "smpl": {g: _body_file(resolve_smpl_path, g) for g in _GENDERS},
        },
        "standin": {
            "packaged_asset": asset,
            "packaged_asset_present": os.path.isfile(asset),
            "expanded_path": str(expanded),
            "expanded": expanded.is_file(),
        },
    }


def _text(info: dict) -> str:
    def found(entry: dict) -> str:
        if not entry["found"]:
            return "not found"
        extra = ""
        if entry.get("valid") is True:
            extra = f" (valid: {entry['vertices']} vertices, up to {entry['max_betas']} betas)"
        elif entry.get("valid") is False:
            extra = f" (INVALID: {entry['problem']})"
        return entry["path"] + extra

    body, standin = info["body_models"], info["standin"]
    build = f" (CUDA {info['cuda_build']} build, no device)" if info["cuda_build"] else " (CPU build)"
    cuda = f"yes: {', '.join(info['cuda_devices'])}" if info["cuda_available"] else "no" + build
    lines = [
        f"hpskit {info['hpskit']} (Python {info['python']}, {info['platform']})",
        f"torch {info['torch']}, CUDA available: {cuda}; CPU threads: {info['cpu_threads']}",
        "packages: " + ", ".join(f"{k} {v or '-'}" for k, v in info["packages"].items()),
        f"user data dir: {info['user_data_dir']}"
        + (" (from $HPSKIT_DATA_DIR)" if info["user_data_dir_from_env"] else ""),
        "",
        "body models are looked for in: " + " → ".join(body["search_order"]),
        f"  ${body['env_var']}: {body['env_value'] or '(unset)'}; layout {body['layout']}",
    ]
    lines += [f"  SMPL-X {g}: {found(e)}" for g, e in body["smplx"].items()]
    lines += [f"  SMPL {g}: {found(e)}" for g, e in body["smpl"].items()]
    if not body["smplx"]["neutral"]["found"]:
        lines.append("  → without SMPL-X, body_model='auto' uses the licence-free stand-in body "
                     "(not SMPL-X).")
    lines += [
        "",
        "stand-in body (licence-free, Anny-derived, SMPL-X format):",
        f"  packaged asset: {standin['packaged_asset']}"
        + ("" if standin["packaged_asset_present"] else " (MISSING from this installation)"),
        f"  expanded file:  {standin['expanded_path']}"
        + (" (present)" if standin["expanded"] else " (written on first use)"),
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    info = collect()
    sys.stdout.write((json.dumps(info, indent=1) if args.json else _text(info)) + "\n")
    return 0
