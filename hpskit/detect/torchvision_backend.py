"""Optional person detectors from torchvision's COCO models (weights downloaded on first use).

Not the default: torchvision fetches the weights from its model store the first time (and caches
them under ``$TORCH_HOME``), so these need a network once. Unlike the built-in BlazePose detector
they need no visible face (COCO's "person" class), at the cost of a much larger network (ResNet-50
FPN). Weights and their terms: see torchvision's model documentation (COCO-trained).

- ``create_detector("torchvision_fasterrcnn")``: boxes only.
- ``create_detector("torchvision_keypointrcnn")``: boxes + the 17 COCO keypoints.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import Detections, Detector, register_detector

__all__ = ["TorchvisionDetector", "COCO_KEYPOINTS"]

#: The 17 COCO keypoint names (Keypoint R-CNN's order).
COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
    "left_ankle", "right_ankle",
)
_PERSON = 1  # COCO category id of "person" in torchvision's detection models

_MODELS = {
    "fasterrcnn": ("fasterrcnn_resnet50_fpn_v2", "FasterRCNN_ResNet50_FPN_V2_Weights"),
    "keypointrcnn": ("keypointrcnn_resnet50_fpn", "KeypointRCNN_ResNet50_FPN_Weights"),
}


class TorchvisionDetector(Detector):
    """Person detector on a torchvision COCO detection model.

    Args:
        arch: ``"fasterrcnn"`` or ``"keypointrcnn"``.
        weights: ``"DEFAULT"`` (torchvision's pretrained weights, downloaded once), ``None`` (random
            init, for tests) or a torchvision weights enum.
        score_threshold: See :class:`~hpskit.detect.Detector`.
        max_people: See :class:`~hpskit.detect.Detector`.
        device: Torch device.
        model: An already built torchvision detection model (overrides ``arch``/``weights``).
    """

    def __init__(self, arch: str = "fasterrcnn", weights="DEFAULT", score_threshold: float = 0.5,
                 max_people: int | None = None, device: str | torch.device = "cpu",
                 model: torch.nn.Module | None = None):
        super().__init__(score_threshold, max_people)
        if arch not in _MODELS:
            raise ValueError(f"arch must be one of {sorted(_MODELS)}, got {arch!r}")
        self.arch = arch
        self.device = torch.device(device)
        if model is None:
            import torchvision.models.detection as tvd

            fn_name, weights_enum = _MODELS[arch]
            if isinstance(weights, str):
                weights = getattr(tvd, weights_enum)[weights]
            kwargs = {} if weights is not None else {"weights_backbone": None}
            model = getattr(tvd, fn_name)(weights=weights, **kwargs)
        self.model = model.eval().to(self.device)

    @torch.inference_mode()
    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        batch = [torch.from_numpy(np.array(im)).to(self.device).permute(2, 0, 1).float() / 255.0
                 for im in images]
        outs = self.model(batch)
        results = []
        for out in outs:
            keep = out["labels"] == _PERSON
            boxes = out["boxes"][keep].cpu().numpy() - 0.5  # torchvision: pixel i covers [i, i + 1)
            scores = out["scores"][keep].cpu().numpy()
            if "keypoints" in out:
                kp = out["keypoints"][keep].cpu().numpy().copy()
                kp[..., :2] -= 0.5
                # torchvision puts a visibility flag in [..., 2]; use the keypoint scores when present
                if "keypoints_scores" in out:
                    kp[..., 2] = torch.sigmoid(out["keypoints_scores"][keep]).cpu().numpy()
                results.append(Detections(boxes, scores, kp.reshape(len(boxes), -1, 3), COCO_KEYPOINTS))
            else:
                results.append(Detections(boxes, scores))
        return results

    def __repr__(self) -> str:
        return f"TorchvisionDetector(arch={self.arch!r}, score_threshold={self.score_threshold})"


@register_detector("torchvision_fasterrcnn")
def torchvision_fasterrcnn(**kwargs) -> TorchvisionDetector:
    """Faster R-CNN ResNet-50 FPN v2 (COCO); weights downloaded on first use."""
    return TorchvisionDetector("fasterrcnn", **kwargs)


@register_detector("torchvision_keypointrcnn")
def torchvision_keypointrcnn(**kwargs) -> TorchvisionDetector:
    """Keypoint R-CNN ResNet-50 FPN (COCO, 17 keypoints); weights downloaded on first use."""
    return TorchvisionDetector("keypointrcnn", **kwargs)
