"""Real-format datasets: BEDLAM, AGORA (training) and 3DPW, EMDB (evaluation), all yielding
:class:`~hpskit.data.Sample`. On-disk formats: ``docs/formats.md``."""

from ._base import FrameData, RealDataset
from ._files import DATASET_URLS, read_exr_channel, write_exr_channel
from ._pickles import dump_py2_pickle, load_data_pickle
from ._smplx_labels import SMPLXTargets
from .agora import AGORA, AGORALayout
from .bedlam import BEDLAM, BEDLAMLayout, normalize_depth_percentile, rotate_clockwise, select_person_mask
from .emdb import EMDB, EMDBNpz
from .pw3d import ThreeDPW, ThreeDPWNpz

__all__ = [
    "AGORA",
    "AGORALayout",
    "BEDLAM",
    "BEDLAMLayout",
    "DATASET_URLS",
    "EMDB",
    "EMDBNpz",
    "FrameData",
    "RealDataset",
    "SMPLXTargets",
    "ThreeDPW",
    "ThreeDPWNpz",
    "dump_py2_pickle",
    "load_data_pickle",
    "normalize_depth_percentile",
    "read_exr_channel",
    "rotate_clockwise",
    "select_person_mask",
    "write_exr_channel",
]
