"""Numbers shared by several subpackages, each with one home here.

``IMAGENET_MEAN`` / ``IMAGENET_STD``: the RGB normalisation of ImageNet-pretrained encoders. A model
carries the values its weights were trained with on its config (``DPoSEConfig.image_mean``/``image_std``,
as timm's pretrained config does), which default to these; datasets normalise their crops with them.
"""

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD"]

#: Per-channel RGB mean of ImageNet, for images in [0, 1].
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
#: Per-channel RGB standard deviation of ImageNet, for images in [0, 1].
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
