"""Assembled models (D-PoSE), their registry, whole-image inference, and the official-checkpoint converter.

Importing ``hpskit.models`` registers the models (``create_model("dpose_hrnet_w48")``).
"""

from .dpose import MODELS, DPoSE, DPoSEConfig, DPoSEOutput, create_model, list_models
from .predict import Prediction, predict

__all__ = ["MODELS", "DPoSE", "DPoSEConfig", "DPoSEOutput", "Prediction", "create_model", "list_models",
           "predict"]
