"""Heads: MultiLinear per-joint layers and the D-PoSE regressor (6D pose, betas, crop camera)."""

from .mean_params import default_mean_params, load_mean_params
from .multilinear import MultiLinear, multilinear, multilinear_init_bound
from .regressor import DPoSERegressor, RegressorOutput

__all__ = [
    "DPoSERegressor",
    "MultiLinear",
    "RegressorOutput",
    "default_mean_params",
    "load_mean_params",
    "multilinear",
    "multilinear_init_bound",
]
