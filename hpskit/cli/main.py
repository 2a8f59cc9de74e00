"""``hpskit`` command line: ``predict``, ``convert``, ``export-onnx``, ``info``.

Every subcommand is a module of :mod:`hpskit.cli` with ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. :func:`main` takes an argument list (tests call it in-process), returns the exit
status, prints hpskit errors as one line on stderr (``--traceback`` shows the whole trace) and logs
through the ``hpskit`` logger (``-v`` for debug messages, ``-q`` for warnings and errors only).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from hpskit import __version__
from hpskit.core import HPSKitError

from . import convert, export_onnx, info, predict

__all__ = ["build_parser", "main"]

SUBCOMMANDS = (predict, convert, export_onnx, info)


def build_parser() -> argparse.ArgumentParser:
    """The ``hpskit`` argument parser with one sub-parser per subcommand."""
    parser = argparse.ArgumentParser(
        prog="hpskit",
        description="hpskit: 3D human pose and shape estimation (D-PoSE) from the command line.",
        epilog="Run `hpskit COMMAND --help` for a command's options. Docs: docs/cli.md.")
    parser.add_argument("--version", action="version", version=f"hpskit {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="also log debug messages")
    common.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    common.add_argument("--traceback", action="store_true", help="on an error, show the full traceback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.DESCRIPTION, parents=[common],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def _log_handler(args: argparse.Namespace) -> logging.Handler:
    """A stderr handler on the ``hpskit`` logger for this run (removed again by :func:`main`)."""
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.setLevel(level)
    root = logging.getLogger("hpskit")
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hpskit`` with ``argv`` (default ``sys.argv[1:]``).

    Args:
        argv: Command-line arguments, e.g. ``["info", "--json"]``.

    Returns:
        The exit status: 0 on success, 1 on an hpskit error (missing file, bad input, failed check).
        Usage errors exit through ``SystemExit(2)`` as argparse does.
    """
    args = build_parser().parse_args(None if argv is None else list(argv))
    handler = _log_handler(args)
    root = logging.getLogger("hpskit")
    level_before = root.level
    try:
        return int(args.run(args) or 0)
    except (HPSKitError, FileNotFoundError, FileExistsError) as exc:
        if args.traceback:
            raise
        sys.stderr.write(f"hpskit {args.command}: error: {exc}\n")
        return 1
    finally:
        root.removeHandler(handler)
        root.setLevel(level_before)


if __name__ == "__main__":
    raise SystemExit(main())
