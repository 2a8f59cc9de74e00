"""Regional ``torch.compile``: compile each repeated block of a network on its own, plus a persistent cache.

Why regional. D-PoSE's HRNet-W48 encoder runs thousands of small kernels per step, and BatchNorm is about a
quarter of its GPU time. ``torch.compile`` of the whole network did not finish within 10 minutes on an H100
(issue 18), so the whole-model compile is not a usable default. The network, however, is mostly copies of a
few block types: HRNet-W18/W48 has 104 ``BasicBlock`` and 4 ``Bottleneck`` modules, and each D-PoSE decoder
has 12 ``ResidualBlock`` modules. :func:`compile_regions` compiles each such block as its own region
(``nn.Module.compile()``), so inductor fuses BatchNorm + ReLU + the residual add inside the block, and the
compilation cost is paid once per distinct block *graph*, not once per instance: dynamo inlines built-in
modules and treats their parameters as graph inputs (``inline_inbuilt_nn_modules``, always on in
torch ≥ 2.14), so all instances of a class that see the same input shapes, the same submodule structure and
the same train/eval mode share one compiled graph. Measured on the CPU (torch 2.14.1, HRNet-W18 at
64×64, batch 2, ``dynamic=False``): the 108 compiled blocks give 6 graphs in training mode (4 branch widths
of ``BasicBlock``, ``Bottleneck`` with and without its downsample), 6 more in eval mode; the whole D-PoSE
network with HRNet-W18 has 134 compiled blocks in 13 graphs per mode (26 for training and eval).

What is compiled by default (``classes=None``). A *block* is a module that

* is not a class of ``torch.nn`` itself (so no ``Conv2d``, ``BatchNorm2d``, ``Sequential``, ``ModuleList``:
  containers have no forward worth compiling on their own, and single layers give inductor nothing to fuse),
* is not a convolution (timm's ``Conv2dSame`` subclasses ``nn.Conv2d``),
* contains at least one convolution among its descendants,
* and contains no other block: it is *innermost* ("leaf-ish").

The classes that occur at least ``min_repeats`` times among these blocks are compiled. For D-PoSE with HRNet
that is timm's ``BasicBlock`` and ``Bottleneck`` and the decoders' ``ResidualBlock`` and ``Upscaler``; with
EfficientNet-Lite it is timm's ``InvertedResidual`` (timm's ``BatchNormAct2d`` holds no convolution and is
fused inside it). ``HighResolutionModule`` (branches + fuse layers) contains blocks, so it is not one; its
fuse layers (plain ``nn.Sequential``) stay eager. Pass ``classes=`` to choose yourself.

Compile options. ``dynamic`` defaults to ``False`` here: ``torch.compile``'s own default guesses dynamic
shapes after the first shape change, which would turn the second branch width of HRNet into a symbolic-shape
graph; one static graph per distinct shape is what a fixed-size training step wants and what CUDA graphs
capture. Dynamo's ``recompile_limit`` (graphs per forward code object, so per block class) is raised to 64
because its default of 8 is too few for D-PoSE's decoder blocks in training and eval mode (see
:func:`compile_regions`).

Correctness. ``tests/engine/test_compile.py`` checks on the CPU that an HRNet-W18 encoder (64×64, batch 2)
with its blocks compiled computes what the eager one does: in float64, training mode, outputs, every parameter
gradient and the BatchNorm running statistics agree to 1e-9 relative (measured 1e-12); in float32, outputs
and running statistics agree to 1e-4 relative to each tensor's largest magnitude in training mode (batch
statistics) and in eval mode (measured 4e-5), and gradients to 1e-2 of the largest gradient (this tiny
network's float32 gradients are ill-conditioned: eager float32 is itself 1.6e-3 away from float64, the
compiled blocks 5.8e-3). A single compiled ``BasicBlock`` matches eager float32 to 1e-4 in outputs and
gradients.

The cache. Inductor keeps compiled graphs on disk: the FX graph cache
(``torch._inductor.config.fx_graph_cache``) and the AOTAutograd cache
(``torch._functorch.config.enable_autograd_cache``) are both on by default in torch 2.14.1, and both live
under ``TORCHINDUCTOR_CACHE_DIR`` together with the compiled Triton / C++ kernels. Its default is
``/tmp/torchinductor_<user>``, which many machines wipe between sessions. :func:`compile_cache_dir` points it
at a persistent folder (default ``~/.cache/hpskit/torchinductor`` on Linux, platformdirs' user cache
elsewhere). Dynamo still traces each region in every process (that is not cached); the expensive part, AOT
autograd + inductor code generation + the C++/Triton compiler, is skipped on a hit.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from torch import nn

from hpskit.core import ConfigError

__all__ = ["compile_cache_dir", "compile_regions", "default_compile_cache_dir", "find_repeated_blocks"]

_ENV = "TORCHINDUCTOR_CACHE_DIR"


def _is_torch_nn_class(m: nn.Module) -> bool:
    return type(m).__module__.startswith("torch.nn.")


def _is_compiled(m: nn.Module) -> bool:
    return getattr(m, "_compiled_call_impl", None) is not None


def find_repeated_blocks(model: nn.Module, min_repeats: int = 2) -> list[type[nn.Module]]:
    """The block classes :func:`compile_regions` compiles by default (see the module docstring for the rule).

    Args:
        model: Any network.
        min_repeats: How many innermost blocks of a class there must be for it to count.

    Returns:
        The classes, most frequent first (ties in order of first appearance).

    Example:
        >>> from hpskit.decoders import UNetLiteDecoder
        >>> find_repeated_blocks(UNetLiteDecoder((8, 16, 32, 64)))[0].__name__
        'ResidualBlock'
    """
    if min_repeats < 1:
        raise ConfigError(f"find_repeated_blocks: `min_repeats` must be ≥ 1; got {min_repeats}.")
    memo: dict[int, tuple[bool, bool]] = {}  # id → (subtree has a conv, subtree has a block)

    def visit(m: nn.Module) -> tuple[bool, bool]:
        has_conv = has_block = False
        for child in m.children():
            c_conv, c_block = memo.get(id(child)) or visit(child)
            has_conv |= c_conv
            has_block |= c_block
        is_conv = isinstance(m, nn.modules.conv._ConvNd)
        is_block = has_conv and not has_block and not is_conv and not _is_torch_nn_class(m)
        if is_block:
            blocks.append(m)
        memo[id(m)] = (has_conv or is_conv, has_block or is_block)
        return memo[id(m)]

    blocks: list[nn.Module] = []
    visit(model)
    counts = Counter(type(b) for b in blocks)
    order = {cls: i for i, cls in reversed(list(enumerate(type(b) for b in blocks)))}
    return sorted((c for c, n in counts.items() if n >= min_repeats), key=lambda c: (-counts[c], order[c]))


def compile_regions(
    model: nn.Module,
    classes: Iterable[type[nn.Module]] | None = None,
    min_repeats: int = 2,
    recompile_limit: int | None = 64,
    **compile_kwargs,
) -> list[str]:
    """Compile, in place, each submodule of ``model`` whose class is in ``classes`` (``nn.Module.compile()``).

    Nothing is compiled yet when this returns: each region compiles at its first call (so a CUDA-graph
    wrapper's eager warm-up passes trigger it before capture). A module that is already compiled, or that sits
    inside a compiled module, is skipped, so a second call compiles nothing new and returns ``[]``.

    Args:
        model: The network (not a ``torch.compile`` wrapper; pass ``wrapper._orig_mod``). Its own class is
            never compiled by this function, even when listed.
        classes: Block classes to compile. ``None``: :func:`find_repeated_blocks` (innermost blocks holding a
            convolution whose class occurs ≥ ``min_repeats`` times).
        min_repeats: See ``classes``.
        recompile_limit: Raise ``torch._dynamo.config.recompile_limit`` (process-wide; never lowered) to at
            least this. Dynamo caches graphs per *code object*, so every instance, shape and train/eval mode
            of one block class counts against one limit, whose default (8) is exceeded by D-PoSE's decoder
            ``ResidualBlock`` (3 levels × with/without shortcut conv × train/eval = 12 graphs); past the
            limit dynamo silently runs the block eagerly. ``None`` leaves the setting alone.
        **compile_kwargs: Passed to ``torch.compile`` (``mode``, ``backend``, ``fullgraph``, ...);
            ``dynamic`` defaults to ``False``.

    Returns:
        Qualified names (as in ``model.named_modules()``) of the modules compiled by this call.

    Raises:
        ConfigError: ``model`` is a ``torch.compile`` wrapper, or a class in ``classes`` is not an
            ``nn.Module`` subclass.

    Example:
        >>> from hpskit.decoders import UNetLiteDecoder
        >>> dec = UNetLiteDecoder((8, 16, 32, 64))
        >>> names = compile_regions(dec)
        >>> len(names), names[0], compile_regions(dec)
        (12, 'fusion_and_refinement.fuse_and_refine_3.0', [])
    """
    if type(model).__name__ == "OptimizedModule" and hasattr(model, "_orig_mod"):
        raise ConfigError("compile_regions: `model` is already a whole-model torch.compile wrapper; pass the "
                          "eager module (`model._orig_mod`) or keep the whole-model compile.")
    wanted = tuple(find_repeated_blocks(model, min_repeats) if classes is None else classes)
    bad = [c for c in wanted if not (isinstance(c, type) and issubclass(c, nn.Module))]
    if bad:
        raise ConfigError(f"compile_regions: `classes` must be nn.Module subclasses; got {bad!r}.")
    compile_kwargs.setdefault("dynamic", False)
    if recompile_limit is not None:
        import torch._dynamo

        cfg = torch._dynamo.config
        cfg.recompile_limit = max(cfg.recompile_limit, recompile_limit)
        cfg.accumulated_recompile_limit = max(cfg.accumulated_recompile_limit, 4 * recompile_limit)
    done: list[str] = []

    def walk(m: nn.Module, prefix: str) -> None:
        for name, child in m.named_children():
            qual = f"{prefix}.{name}" if prefix else name
            if _is_compiled(child):
                continue  # compiled (by us or the caller): its whole subtree is one region already
            if isinstance(child, wanted):
                child.compile(**compile_kwargs)
                done.append(qual)
                continue
            walk(child, qual)

    if not _is_compiled(model):
        walk(model, "")
    return done


def default_compile_cache_dir() -> Path:
    """``<user cache>/hpskit/torchinductor`` (platformdirs; ``~/.cache/hpskit/torchinductor`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("hpskit", appauthor=False)) / "torchinductor"


def compile_cache_dir(path: str | os.PathLike | None = None) -> Path:
    """Keep inductor's compiled graphs and kernels in ``path`` for the rest of this process.

    Sets the environment variable ``TORCHINDUCTOR_CACHE_DIR`` (the one place inductor reads its cache folder
    from; its FX graph cache, AOTAutograd cache and Triton/C++ kernels all live under it) and creates the
    folder. This is process-wide state, so it happens only when called: importing hpskit sets nothing. Call it
    before the first compilation (the recipe does so in setup); compilations already done in this process
    keep their in-memory entries. Not a context manager on purpose: regions compile lazily at their first
    call, usually long after the setup code that asked for the cache has returned.

    Args:
        path: The folder; ``None`` for :func:`default_compile_cache_dir`.

    Returns:
        The absolute folder in use.

    Raises:
        ConfigError: ``path`` exists and is not a folder.
    """
    folder = Path(path).expanduser() if path is not None else default_compile_cache_dir()
    folder = folder.absolute()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"compile_cache_dir: {str(folder)!r} exists and is not a folder; pass a folder.")
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[_ENV] = str(folder)
    return folder
