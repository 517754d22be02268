"""The fused fast path agrees with the native one (values and gradients), and its policy."""

from __future__ import annotations

import threading
import warnings

import pytest
import torch

from reconloss.losses import _fused, pixel

FUNCS = {
    "l1": pixel.l1_loss,
    "mse": pixel.mse_loss,
    "huber": pixel.huber_loss,
    "smooth_l1": pixel.smooth_l1_loss,
    "charbonnier": pixel.charbonnier_loss,
}
PARAMS = {"huber": {"delta": 0.25}, "smooth_l1": {"beta": 0.25}, "charbonnier": {"eps": 1e-2}}


def _run(kind, impl, x, y, **kw):
    a = x.clone().requires_grad_()
    b = y.clone().requires_grad_()
    out = FUNCS[kind](a, b, impl=impl, **PARAMS.get(kind, {}), **kw)
    (out.sum() if out.ndim else out).backward()
    return out.detach(), a.grad, b.grad


def test_fused_matches_native_one_real_chunked_size():
    x = torch.rand(1, 3, 600, 600)  # 1.08M elements > CHUNK_FROM
    y = torch.rand(1, 3, 600, 600)
    for kind in FUNCS:
        for g, w in zip(_run(kind, "fused", x, y), _run(kind, "native", x, y)):
            _close(g, w)


def _close(got, want):
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("kind", list(FUNCS))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighting", [None, "mask1", "maskC", "weight1", "weightC"])
@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (3, 3, 20, 30)])  # the second spans several chunks
def test_fused_matches_native(kind, reduction, weighting, shape, monkeypatch):
    monkeypatch.setattr(_fused, "CHUNK", 1000)
    monkeypatch.setattr(_fused, "CHUNK_FROM", 0)
    x = torch.rand(shape)
    y = torch.rand(shape)
    n, c, h, w = shape
    kw = {}
    if weighting is not None:
        ch = 1 if weighting.endswith("1") else c
        val = (torch.rand(n, ch, h, w) > 0.5) if weighting.startswith("mask") else torch.rand(n, ch, h, w)
        kw = {weighting[:-1]: val}
    got = _run(kind, "fused", x, y, reduction=reduction, **kw)
    want = _run(kind, "native", x, y, reduction=reduction, **kw)
    for g, wv in zip(got, want):
        _close(g, wv)


def test_fused_gradcheck_chunked_float64(monkeypatch):
    monkeypatch.setattr(_fused, "CHUNK", 7)  # force many chunks on a small input
    monkeypatch.setattr(_fused, "CHUNK_FROM", 0)
    x = torch.rand(2, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    y = torch.rand(2, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    m = torch.rand(2, 1, 3, 4, dtype=torch.float64)
    for kind, fn in FUNCS.items():
        assert torch.autograd.gradcheck(lambda a, b: fn(a, b, impl="fused", **PARAMS.get(kind, {})), (x, y))
        if kind in ("l1", "mse"):
            assert torch.autograd.gradcheck(lambda a, b: fn(a, b, impl="fused", weight=m), (x, y))


def test_fused_target_grad_only_when_needed():
    x = torch.rand(2, 3, 4, 4, requires_grad=True)
    y = torch.rand(2, 3, 4, 4)
    pixel.l1_loss(x, y, impl="fused").backward()
    assert x.grad is not None and y.grad is None
    x2 = torch.rand(2, 3, 4, 4)
    y2 = torch.rand(2, 3, 4, 4, requires_grad=True)
    pixel.mse_loss(x2, y2, impl="fused").backward()
    torch.testing.assert_close(y2.grad, -2 * (x2 - y2.detach()) / x2.numel())


def test_fused_no_double_backward_native_has_it():
    x = torch.rand(2, 3, 4, 4, requires_grad=True)
    y = torch.rand(2, 3, 4, 4)
    (g,) = torch.autograd.grad(pixel.mse_loss(x, y, impl="fused"), x, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()
    (g,) = torch.autograd.grad(pixel.mse_loss(x, y, impl="native"), x, create_graph=True)
    g.sum().backward()


def test_fused_saved_input_modified_in_place_is_detected():
    x = torch.rand(2, 3, 4, 4, requires_grad=True)
    a = x * 1.0
    y = torch.rand(2, 3, 4, 4)
    loss = pixel.l1_loss(a, y, impl="fused")
    with torch.no_grad():
        a.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_auto_policy():
    big = torch.empty(_fused.FUSED_MIN_NUMEL)
    small = torch.empty(_fused.FUSED_MIN_NUMEL - 1)
    assert _fused.choose_impl("auto", "mean", big, big) == "fused"
    assert _fused.choose_impl("auto", "mean", big, big, "mse") == "native"
    assert _fused.choose_impl("auto", "mean", big, big, "mse", weighted=True) == "fused"
    light = torch.empty(_fused.LIGHT_FUSED_FROM)
    assert _fused.choose_impl("auto", "mean", light, light, "huber") == "fused"
    assert _fused.choose_impl("auto", "mean", light, light, "mse") == "native"
    huge = torch.empty(_fused.MSE_FUSED_FROM)
    assert _fused.choose_impl("auto", "mean", huge, huge, "mse") == "fused"
    assert _fused.choose_impl("auto", "mean", small, small) == "native"
    assert _fused.choose_impl("auto", "none", big, big) == "native"
    assert _fused.choose_impl("auto", "sum", big.half(), big.half()) == "native"
    nc = torch.rand(2, 3, 64, 64).transpose(2, 3)
    assert _fused.choose_impl("fused", "mean", nc, nc) == "native"
    assert _fused.choose_impl("fused", "mean", small, small) == "fused"
    assert _fused.choose_impl("native", "mean", big, big) == "native"
    meta = torch.empty(_fused.FUSED_MIN_NUMEL, device="meta")
    assert _fused.choose_impl("auto", "mean", meta, meta) == "native"


def test_non_contiguous_inputs_give_native_values():
    x = torch.rand(2, 3, 8, 8).transpose(2, 3)
    y = torch.rand(2, 3, 8, 8).transpose(2, 3)
    assert torch.equal(pixel.l1_loss(x, y, impl="fused"), torch.nn.functional.l1_loss(x, y))


def test_empty_mask_policies_on_fused_gradients():
    x = torch.rand(2, 3, 4, 4, requires_grad=True)
    y = torch.rand(2, 3, 4, 4)
    m = torch.zeros(2, 1, 4, 4)
    loss = pixel.l1_loss(x, y, mask=m, impl="fused", empty="zero")
    loss.backward()
    assert loss.item() == 0.0 and torch.count_nonzero(x.grad) == 0


def test_compiled_falls_back_with_one_warning(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(_fused, "_COMPILED", {})
    monkeypatch.setattr(_fused, "_COMPILE_FAILED", False)
    monkeypatch.setattr(_fused, "_COMPILE_WARNED", False)
    x = torch.rand(2, 3, 8, 8)
    y = torch.rand(2, 3, 8, 8)
    with pytest.warns(RuntimeWarning, match="impl='compiled' could not compile"):
        v = pixel.l1_loss(x, y, impl="compiled")
    torch.testing.assert_close(v, torch.nn.functional.l1_loss(x, y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pixel.l1_loss(x, y, impl="compiled")  # no second warning


@pytest.mark.slow
def test_compiled_matches_native():  # compiles for ~20 s on a loaded 2-core CPU
    x = torch.rand(2, 3, 16, 16, requires_grad=True)
    y = torch.rand(2, 3, 16, 16)
    for kind in ("l1", "charbonnier"):
        v = FUNCS[kind](x, y, impl="compiled", **PARAMS.get(kind, {}))
        torch.testing.assert_close(v, FUNCS[kind](x, y, impl="native", **PARAMS.get(kind, {})), rtol=1e-6, atol=0)
        v.backward()


@pytest.mark.slow
def test_compiled_every_kind_and_size_stays_compiled(caplog):  # ~30 s of compiling
    """One shared compiled function hit TorchDynamo's recompile limit (8 variants per code
    object) after a few kinds and sizes, and then silently ran eager."""
    caplog.set_level("WARNING", logger="torch._dynamo")
    for shape in ((2, 3, 16, 16), (4, 3, 16, 16), (3, 3, 24, 20), (5, 3, 32, 32)):
        for kind, fn in FUNCS.items():
            x = torch.rand(shape, requires_grad=True)
            y = torch.rand(shape)
            v = fn(x, y, impl="compiled", **PARAMS.get(kind, {}))
            v.backward()
            _close(v.detach(), fn(x, y, impl="native", **PARAMS.get(kind, {})))
    assert not [r for r in caplog.records if "recompile" in r.getMessage()]


def test_learned_weight_gets_its_gradient():
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    y = torch.rand(2, 3, 8, 8)
    w = torch.rand(2, 1, 8, 8, requires_grad=True)
    pixel.l1_loss(x, y, weight=w, impl="fused").backward()
    assert w.grad is not None and torch.count_nonzero(w.grad) > 0


@pytest.mark.parametrize("kind", list(FUNCS))
@pytest.mark.parametrize("weighted", [False, True])
def test_no_grad_forward_matches(kind, weighted, monkeypatch):
    monkeypatch.setattr(_fused, "CHUNK", 500)
    monkeypatch.setattr(_fused, "CHUNK_FROM", 0)
    x, y = torch.rand(2, 3, 20, 20), torch.rand(2, 3, 20, 20)
    kw = {"mask": torch.rand(2, 1, 20, 20) > 0.5} if weighted else {}
    with torch.no_grad():
        got = FUNCS[kind](x, y, impl="fused", **PARAMS.get(kind, {}), **kw)
    _close(got, FUNCS[kind](x, y, impl="native", **PARAMS.get(kind, {}), **kw))


# ---------------------------------------------------------------- unchunked (small-input) paths


@pytest.mark.parametrize("kind", ["l1", "mse"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighting", [None, "mask1", "maskC", "weight1", "weightC"])
def test_fused_unchunked_matches_native(kind, reduction, weighting):
    """Inputs up to CHUNK_FROM are reduced in one piece; the weight enters the backward kernel
    as its broadcast grad_output."""
    n, c, h, w = 2, 3, 9, 7
    x, y = torch.rand(n, c, h, w), torch.rand(n, c, h, w)
    kw = {}
    if weighting is not None:
        ch = 1 if weighting.endswith("1") else c
        val = (torch.rand(n, ch, h, w) > 0.5) if weighting.startswith("mask") else torch.rand(n, ch, h, w)
        kw = {weighting[:-1]: val}
    for g, wv in zip(_run(kind, "fused", x, y, reduction=reduction, **kw), _run(kind, "native", x, y, reduction=reduction, **kw)):
        _close(g, wv)


def test_fused_unchunked_gradcheck_float64():
    x = torch.rand(2, 3, 3, 4, dtype=torch.float64, requires_grad=True)
    y = torch.rand(2, 3, 3, 4, dtype=torch.float64, requires_grad=True)
    for wshape in ((2, 1, 3, 4), (2, 3, 3, 4)):
        m = torch.rand(wshape, dtype=torch.float64)
        for fn in (pixel.l1_loss, pixel.mse_loss):
            assert torch.autograd.gradcheck(lambda a, b: fn(a, b, impl="fused", weight=m), (x, y))
            assert torch.autograd.gradcheck(lambda a, b: fn(a, b, impl="fused", mask=m > 0.5, reduction="sum"), (x, y))
    assert torch.autograd.gradcheck(lambda a, b: pixel.l1_loss(a, b, impl="fused"), (x, y))


def test_fused_second_backward_gives_the_same_gradient():
    x = torch.rand(2, 3, 4, 4, requires_grad=True)
    y = torch.rand(2, 3, 4, 4)
    m = torch.rand(2, 1, 4, 4)
    loss = pixel.l1_loss(x, y, impl="fused", weight=m)
    (g1,) = torch.autograd.grad(loss, x, retain_graph=True)
    (g2,) = torch.autograd.grad(loss, x)
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)
    (want,) = torch.autograd.grad(pixel.l1_loss(x, y, impl="native", weight=m), x)
    _close(g1, want)


@pytest.mark.parametrize("impl", ["fused", "native"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "neg", "inf+neg"])
def test_weight_value_errors_unchanged(impl, reduction, bad):
    """The one-reduction weight scan (and, for mean/sum, the +Inf check via the loss value)
    raise the same errors as the full scans did, NaN/Inf before negative entries."""
    from reconloss import MaskError, NonFiniteError

    x, y = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    w = torch.rand(2, 1, 4, 4)
    if bad == "nan":
        w[0, 0, 1, 1] = float("nan")
    elif bad == "inf":
        w[0, 0, 1, 1] = float("inf")
    elif bad == "-inf":
        w[0, 0, 1, 1] = float("-inf")
    elif bad == "neg":
        w[0, 0, 1, 1] = -0.5
    else:
        w[0, 0, 1, 1] = float("inf")
        w[1, 0, 2, 2] = -0.5
    err, msg = (MaskError, "weight must be non-negative, got 1 negative") if bad == "neg" else (NonFiniteError, "weight must be finite")
    for fn in (pixel.l1_loss, pixel.mse_loss, pixel.huber_loss):
        with pytest.raises(err, match=msg):
            fn(x, y, weight=w, impl=impl, reduction=reduction)


# ---------------------------------------------------------------- kernels, scratch buffer, chunking


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_l1_gradient_is_the_sign_at_zero_and_tiny_differences(dtype):
    """L1's backward is the smooth-L1 kernel with beta = the smallest normal number: 0 where
    a == b, +-1 for every normal difference however small, like torch.sign."""
    tiny = torch.finfo(dtype).tiny
    y = torch.zeros(1, 1, 1, 6, dtype=dtype)
    x = torch.tensor([[[[0.0, tiny, -tiny, 1e-30, -0.5, 3.0]]]], dtype=dtype, requires_grad=True)
    pixel.l1_loss(x, y, impl="fused", reduction="sum").backward()
    assert x.grad.tolist() == [[[[0.0, 1.0, -1.0, 1.0, -1.0, 1.0]]]]
    x.grad = None
    torch.nn.functional.l1_loss(x, y, reduction="sum").backward()
    assert x.grad.tolist() == [[[[0.0, 1.0, -1.0, 1.0, -1.0, 1.0]]]]


def test_fused_l1_forward_is_exact_abs_difference():
    x, y = torch.randn(3, 3, 17, 19), torch.randn(3, 3, 17, 19)
    x[0, 0, 0, :3] = torch.tensor([0.0, 1e-40, -1e-39])  # zero and subnormal differences
    y[0, 0, 0, :3] = 0.0
    got = pixel.l1_loss(x, y, impl="fused", reduction="sum")
    torch.testing.assert_close(got, (x - y).abs().sum(), rtol=1e-6, atol=0)


@pytest.mark.parametrize("kind", list(FUNCS))
@pytest.mark.parametrize("weighting", ["mask1", "weightC"])
@pytest.mark.parametrize("chunk_from", [1500, 3000])  # 1 or 2 whole images per chunk (900 per image)
def test_fused_weighted_whole_image_chunks(kind, weighting, chunk_from, monkeypatch):
    """Weighted inputs above CHUNK_FROM are chunked by whole images when an image fits."""
    monkeypatch.setattr(_fused, "CHUNK_FROM", chunk_from)
    n, c, h, w = 5, 3, 15, 20  # 4500 elements: above CHUNK_FROM, 900 per image
    x, y = torch.rand(n, c, h, w), torch.rand(n, c, h, w)
    ch = 1 if weighting.endswith("1") else c
    val = (torch.rand(n, ch, h, w) > 0.5) if weighting.startswith("mask") else torch.rand(n, ch, h, w)
    for reduction in ("mean", "sum"):
        kw = {weighting[:-1]: val, "reduction": reduction}
        for g, wv in zip(_run(kind, "fused", x, y, **kw), _run(kind, "native", x, y, **kw)):
            _close(g, wv)


def test_scratch_buffer_is_reused_and_resized(monkeypatch):
    monkeypatch.setattr(_fused, "_SCRATCH", threading.local())
    x = torch.rand(2, 3, 64, 64)
    first = _fused._scratch(100, x)
    assert _fused._scratch(50, x).data_ptr() == first.data_ptr()  # reused, no allocation
    bigger = _fused._scratch(1000, x)
    assert bigger.numel() == 1000 and _fused._scratch(1000, x.double()).dtype == torch.float64


@pytest.mark.parametrize("first_in_inference_mode", [True, False])
def test_fused_works_in_and_out_of_inference_mode(first_in_inference_mode, monkeypatch):
    monkeypatch.setattr(_fused, "_SCRATCH", threading.local())  # start without a buffer
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    want = torch.nn.functional.mse_loss(x, y)
    order = [True, False] if first_in_inference_mode else [False, True]
    for inference in order:
        with torch.inference_mode(inference):
            _close(pixel.mse_loss(x, y, impl="fused"), want)


def test_fused_in_threads_uses_one_scratch_per_thread():
    from concurrent.futures import ThreadPoolExecutor

    gen = torch.Generator().manual_seed(3)
    pairs = [(torch.rand(4, 3, 40 + 8 * i, 40, generator=gen), torch.rand(4, 3, 40 + 8 * i, 40, generator=gen)) for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda p: pixel.l1_loss(*p, impl="fused"), pairs * 4))
    for (x, y), g in zip(pairs * 4, got):
        _close(g, torch.nn.functional.l1_loss(x, y))


@pytest.mark.parametrize("keep_roots_upto", [0, 1 << 23])  # recompute the roots / keep them
@pytest.mark.parametrize("chunked", [False, True])
def test_fused_charbonnier_both_backward_paths(keep_roots_upto, chunked, monkeypatch):
    monkeypatch.setattr(_fused, "CHARBONNIER_KEEP_ROOTS_UPTO", keep_roots_upto)
    if chunked:
        monkeypatch.setattr(_fused, "CHUNK", 1000)
        monkeypatch.setattr(_fused, "CHUNK_FROM", 0)
    x, y = torch.rand(3, 3, 20, 30), torch.rand(3, 3, 20, 30)
    for reduction in ("mean", "sum"):
        for g, wv in zip(_run("charbonnier", "fused", x, y, reduction=reduction), _run("charbonnier", "native", x, y, reduction=reduction)):
            _close(g, wv)
    a = x.clone().requires_grad_()
    loss = pixel.charbonnier_loss(a, y, impl="fused", eps=1e-2)
    (g1,) = torch.autograd.grad(loss, a, retain_graph=True)
    (g2,) = torch.autograd.grad(loss, a)
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)
    xd = x[:1, :1, :3, :4].double().requires_grad_()
    yd = y[:1, :1, :3, :4].double()
    assert torch.autograd.gradcheck(lambda t: pixel.charbonnier_loss(t, yd, impl="fused", eps=1e-2), (xd,))
