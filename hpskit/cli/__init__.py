"""The ``hpskit`` command line (``hpskit predict | convert | export-onnx | info``); docs/cli.md.

Only this layer (and ``recipes/``) picks devices. :func:`main` is the console-script entry point.
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
