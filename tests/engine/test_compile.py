"""Regional torch.compile (:mod:`hpskit.engine.compile`): which blocks are chosen, that compiling twice
compiles nothing new, that instances of a block share compiled graphs, and that compiled blocks compute what
the eager ones do (outputs, parameter gradients, BatchNorm running statistics; fp32, CPU inductor backend)."""

from __future__ import annotations

import copy
import os

import pytest
import torch
from timm.models.resnet import BasicBlock, Bottleneck
from torch import nn

from hpskit.core import ConfigError
from hpskit.decoders import UNetLiteDecoder
from hpskit.decoders.unet_lite import ResidualBlock, Upscaler
from hpskit.encoders import create_encoder, kaiming_init_
from hpskit.engine import compile_cache_dir, compile_regions, default_compile_cache_dir, find_repeated_blocks

RTOL = 1e-4  # max |compiled - eager| relative to max |eager|, per tensor (fp32)


def _close(got: torch.Tensor, want: torch.Tensor, rtol: float = RTOL) -> bool:
    scale = want.abs().max().clamp_min(1e-12)
    return bool(((got - want).abs().max() / scale) <= rtol)


@pytest.fixture
def inductor_cache(request, monkeypatch, tmp_path_factory):
    """Inductor's cache in pytest's cache folder (``.pytest_cache``: a rerun finds the compiled kernels; a
    cold C++ compile costs ~10-20 s on 2 cores; a session temporary folder when pytest's cache plugin is off,
    ``-p no:cacheprovider``), and fresh dynamo caches and counters, so the graph counts are this test's own.
    Yields dynamo's counters."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    cache = getattr(request.config, "cache", None)
    folder = (cache.mkdir("hpskit_torchinductor") if cache is not None
              else tmp_path_factory.mktemp("hpskit_torchinductor"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(folder))
    torch._dynamo.reset()
    counters.clear()
    yield counters
    torch._dynamo.reset()


@pytest.fixture(scope="module")
def w18():
    torch.manual_seed(0)
    enc = create_encoder("hrnet_w18")
    kaiming_init_(enc)
    return enc


def _block_names(model: nn.Module, classes) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, classes)]


def test_repeated_blocks_of_hrnet_efficientnet_and_the_decoder(w18):
    assert find_repeated_blocks(w18) == [BasicBlock, Bottleneck]  # 104 and 4 in HRNet-W18
    assert find_repeated_blocks(w18, min_repeats=5) == [BasicBlock]
    dec = UNetLiteDecoder((8, 16, 32, 64))
    assert find_repeated_blocks(dec) == [ResidualBlock]  # one Upscaler per decoder: not repeated
    assert find_repeated_blocks(nn.Sequential(dec, UNetLiteDecoder((8, 16, 32, 64)))) == [ResidualBlock,
                                                                                            Upscaler]
    from timm.models._efficientnet_blocks import InvertedResidual

    lite = create_encoder("efficientnet_lite0")
    # timm's BatchNormAct2d holds no convolution, so InvertedResidual is innermost (and there is one
    # DepthwiseSeparableConv only).
    assert find_repeated_blocks(lite) == [InvertedResidual]
    # Plain torch.nn layers and containers are never blocks.
    assert find_repeated_blocks(nn.Sequential(nn.Conv2d(1, 1, 1), nn.Sequential(nn.Conv2d(1, 1, 1)))) == []
    with pytest.raises(ConfigError, match="min_repeats"):
        find_repeated_blocks(w18, min_repeats=0)


def test_compile_regions_names_and_second_call():
    enc = create_encoder("hrnet_w18")
    names = compile_regions(enc, recompile_limit=None)
    assert names == _block_names(enc, (BasicBlock, Bottleneck)) and len(names) == 108
    assert names[0] == "trunk.layer1.0" and all(enc.get_submodule(n)._compiled_call_impl for n in names)
    assert compile_regions(enc, recompile_limit=None) == []  # nothing compiled twice
    # A module the caller compiled already (and everything inside it) is left alone.
    enc2 = create_encoder("hrnet_w18")
    enc2.trunk.stage2.compile()
    names2 = compile_regions(enc2, classes=[BasicBlock], recompile_limit=None)
    assert len(names2) == 104 - 8 and not any(n.startswith("trunk.stage2.") for n in names2)


def test_compile_regions_refuses_bad_input():
    enc = create_encoder("hrnet_w18")
    with pytest.raises(ConfigError, match="_orig_mod"):
        compile_regions(torch.compile(enc))
    with pytest.raises(ConfigError, match="nn.Module subclasses"):
        compile_regions(enc, classes=["BasicBlock"])


def test_recompile_limit_is_raised_never_lowered():
    import torch._dynamo

    with torch._dynamo.config.patch(recompile_limit=8):  # restored afterwards
        compile_regions(nn.Sequential(BasicBlock(4, 4)), classes=[BasicBlock], recompile_limit=64)
        assert torch._dynamo.config.recompile_limit == 64
        compile_regions(nn.Sequential(BasicBlock(4, 4)), classes=[BasicBlock], recompile_limit=16)
        assert torch._dynamo.config.recompile_limit == 64


def test_one_basic_block_compiled_equals_eager(inductor_cache):
    """Really compiles (CPU inductor): two BasicBlock instances of one shape share one graph, and outputs,
    gradients and BatchNorm running statistics equal the eager block's."""
    torch.manual_seed(0)
    eager = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
    compiled = copy.deepcopy(eager)
    assert compile_regions(compiled) == ["0", "1"]
    # requires_grad as in a network, where the second block's input (the first one's output) needs a grad too:
    # whether an input requires grad is part of a graph's guards.
    x = torch.randn(2, 8, 8, 8, requires_grad=True)
    w = torch.randn(2, 8, 8, 8)
    outs = []
    for net in (eager, compiled):
        y = net(x)
        (y * w).sum().backward()
        outs.append(y.detach())
    assert _close(outs[1], outs[0])
    for (name, p), q in zip(eager.named_parameters(), compiled.parameters()):
        assert _close(q.grad, p.grad), name
    for (name, b), c in zip(eager.named_buffers(), compiled.buffers()):
        assert _close(c.float(), b.float()), name
    assert inductor_cache["stats"]["unique_graphs"] == 1  # both instances, one compiled graph
    assert os.listdir(os.environ["TORCHINDUCTOR_CACHE_DIR"])  # the cache went where it was pointed


def _hrnet_step(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Forward, a fixed linear loss on every output map, backward; the maps."""
    out = net(x)
    maps = [*out.features, out.fused]
    loss = sum((m * torch.linspace(-1, 1, m.numel(), dtype=m.dtype).view_as(m)).sum() for m in maps)
    loss.backward()
    return [m.detach() for m in maps]


@pytest.mark.slow  # ~50 s cold on 2 cores (6 graphs, forward and backward)
def test_hrnet_w18_compiled_blocks_equal_eager_float64(w18, inductor_cache):
    """HRNet-W18, 64×64, batch 2, training mode, float64: the 108 compiled blocks share 6 graphs, and outputs,
    every parameter gradient and the BatchNorm running statistics equal eager to 1e-9 (measured: 1e-12), so
    the compiled blocks compute the same function; the float32 test below shows the precision in practice."""
    eager, compiled = copy.deepcopy(w18).double().train(), copy.deepcopy(w18).double().train()
    assert len(compile_regions(compiled)) == 108
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    for got, want in zip(_hrnet_step(compiled, x), _hrnet_step(eager, x)):
        assert _close(got, want, 1e-9)
    for (name, p), q in zip(eager.named_parameters(), compiled.parameters()):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            assert _close(q.grad, p.grad, 1e-9), name
    for (name, b), c in zip(eager.named_buffers(), compiled.buffers()):
        assert _close(c.double(), b.double(), 1e-9), name
    # 4 branch widths of BasicBlock + Bottleneck with and without its downsample conv.
    assert inductor_cache["stats"]["unique_graphs"] == 6


@pytest.mark.slow  # ~60 s cold on 2 cores (12 graphs)
def test_hrnet_w18_compiled_blocks_equal_eager_float32(w18, inductor_cache):
    """The same in float32, training then eval mode: outputs and running statistics within RTOL (measured:
    4e-5). Parameter gradients within 1e-2 of the largest gradient: at this size (BatchNorm over 8 values per
    channel in the coarsest branch, ReLU masks flipped by rounding) eager float32 itself is 1.6e-3 away from
    float64 and the compiled blocks 5.8e-3; the float64 test shows the two compute the same function."""
    eager, compiled = copy.deepcopy(w18).train(), copy.deepcopy(w18).train()
    compile_regions(compiled)
    x = torch.randn(2, 3, 64, 64)
    for got, want in zip(_hrnet_step(compiled, x), _hrnet_step(eager, x)):
        assert _close(got, want)
    grad_scale = max(p.grad.abs().max() for p in eager.parameters() if p.grad is not None)
    for (name, p), q in zip(eager.named_parameters(), compiled.parameters()):
        if p.grad is not None:
            assert (q.grad - p.grad).abs().max() <= 1e-2 * grad_scale, name
    for (name, b), c in zip(eager.named_buffers(), compiled.buffers()):
        assert _close(c.float(), b.float()), name
    assert inductor_cache["stats"]["unique_graphs"] == 6
    eager.eval(), compiled.eval()
    with torch.no_grad():
        got, want = compiled(x), eager(x)
    for g, w in zip([*got.features, got.fused], [*want.features, want.fused]):
        assert _close(g, w)
    assert inductor_cache["stats"]["unique_graphs"] == 12


def test_compile_cache_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    folder = compile_cache_dir(tmp_path / "a" / "b")
    assert folder == (tmp_path / "a" / "b").absolute() and folder.is_dir()
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(folder)
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    assert cache_dir() == str(folder)  # where inductor will write
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        compile_cache_dir(tmp_path / "file")
    assert default_compile_cache_dir().parts[-2:] == ("hpskit", "torchinductor")
