"""Test support: tiny datasets in the real on-disk formats and procedural meshes. Not for models or training.

Nothing in the library imports this package; hpskit's own test suite, benchmarks and documentation examples
do. It ships inside the wheel (rather than under ``tests/``) for two reasons: the benchmarks and the docs'
examples need it without a source checkout, and a project that builds on hpskit (a new dataset reader, a
new renderer) can check itself against the same files. Its name keeps it out of the way of user code: the
public API lives in the other subpackages, and nothing here is re-exported by them.

* :mod:`hpskit.testing.datasets`: writers of tiny BEDLAM, AGORA, 3DPW and EMDB datasets whose ground
  truth is self-consistent (keypoints are projections of the joints; depth and masks are renders of the
  same meshes), so a loader can be checked against numbers a test computes on its own;
* :mod:`hpskit.testing.meshes`: a box, UV ellipsoids and a body-sized blob figure, closed and outward
  wound, that need no body-model file.

The subpackages are imported on demand (``from hpskit.testing.meshes import figure_mesh``), so importing
:mod:`hpskit.testing` itself costs nothing.
"""

__all__ = ["datasets", "meshes"]
