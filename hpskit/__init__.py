"""hpskit: reusable building blocks for 3D human pose and shape estimation with SMPL-X.

Importing hpskit does no I/O, sets no environment variables and touches no network.
Subpackages are imported on demand (``from hpskit.models import DPoSE``).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
