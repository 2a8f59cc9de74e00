"""Assembled models (D-PoSE), their registry, inference, the official-checkpoint converter, ONNX export,
inference rewrites (BatchNorm folding).

Importing ``hpskit.models`` registers the models (``create_model("dpose_hrnet_w48")``).
"""

from .convert_dpose import ConversionReport, convert_dpose_checkpoint
from .dpose import MODELS, DPoSE, DPoSEConfig, DPoSEOutput, create_model, list_models
from .export import OnnxExportReport, export_onnx, verify_onnx
from .optimize import FusionReport, fuse_for_inference
from .predict import predict
from .prediction import Prediction
from .pretrained import BUILTIN_WEIGHTS, BuiltinWeights, list_pretrained

__all__ = [
    "BUILTIN_WEIGHTS",
    "BuiltinWeights",
    "MODELS",
    "ConversionReport",
    "DPoSE",
    "DPoSEConfig",
    "DPoSEOutput",
    "FusionReport",
    "OnnxExportReport",
    "Prediction",
    "convert_dpose_checkpoint",
    "create_model",
    "export_onnx",
    "fuse_for_inference",
    "list_models",
    "list_pretrained",
    "predict",
    "verify_onnx",
]
