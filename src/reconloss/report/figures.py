"""Figures of the report, as PNG bytes.

Every figure is drawn on a :class:`matplotlib.figure.Figure` with an explicit
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg` (the Agg backend, without touching
pyplot's global state), at a fixed dpi, with ``metadata={'Software': None}``: the same input
gives the same bytes.

Colours: lines use the Okabe-Ito palette (safe for the common colour-vision deficiencies),
each loss also gets its own marker / dash so colour is never the only cue; maps use
``cividis``.

Crop choice (the zoomed panel of the image grid): in the outliers study the crop is centred on
an outlier pixel of the sample; with an inpainting mask it is centred on the hole; otherwise
it is the window of the target with the highest gradient energy (finest detail), found with
an integral image, first maximum in row-major order.
"""

from __future__ import annotations

import io
import math
import textwrap
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from reconloss.report._schema import SampleSet

__all__ = [
    "DPI",
    "OKABE_ITO",
    "MARKERS",
    "DASHES",
    "ERROR_CMAP",
    "loss_style",
    "detail_window",
    "crop_window",
    "image_grid",
    "spectra_figure",
    "sharpness_fidelity_figure",
    "curves_figure",
]

DPI = 100
#: Okabe-Ito colours, most distinct first (yellow last: weak on white).
OKABE_ITO: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")
DASHES: tuple[Any, ...] = ("-", (0, (5, 1.5)), (0, (1, 1.2)), (0, (4, 1.5, 1, 1.5)), "-", (0, (5, 1.5)), (0, (1, 1.2)), "-")
ERROR_CMAP = "cividis"
_MARK = "#F0E442"  # crop rectangle (over a black edge, visible on light and dark images)
_HOLE = "#56B4E9"
_OUTLIER = "#D55E00"

_RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.labelsize": 8.5,
    "axes.edgecolor": "#555555",
    "axes.linewidth": 0.7,
    "axes.grid": True,
    "grid.color": "#e3e3e3",
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "text.usetex": False,
    "svg.hashsalt": "reconloss",
    "path.simplify": True,
    "image.interpolation": "nearest",
}


def _text(s: str, width: int = 20) -> str:
    """A user string made safe for matplotlib (no mathtext from ``$``) and wrapped."""
    s = str(s).replace("$", r"\$")
    return "\n".join(textwrap.wrap(s, width=width, break_long_words=True)) or " "


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    return buf.getvalue()


def loss_style(index: int) -> dict[str, Any]:
    """Colour, marker and line style of the ``index``-th loss (stable across all figures)."""
    return {
        "color": OKABE_ITO[index % len(OKABE_ITO)],
        "marker": MARKERS[index % len(MARKERS)],
        "linestyle": DASHES[(index // len(OKABE_ITO) + index) % len(DASHES)],
    }


# ---------------------------------------------------------------- crops


def detail_window(image: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left ``(row, col)`` of the ``size`` x ``size`` window with the most gradient energy.

    Args:
        image: (H, W, 3) or (H, W) array.
        size: window side, clipped to the image.
    """
    gray = image.mean(axis=2) if image.ndim == 3 else image
    h, w = gray.shape
    size = max(1, min(size, h, w))
    gx = np.zeros_like(gray)
    gy = np.zeros_like(gray)
    gx[:, :-1] = np.diff(gray, axis=1)
    gy[:-1, :] = np.diff(gray, axis=0)
    energy = gx**2 + gy**2
    ii = np.zeros((h + 1, w + 1))
    ii[1:, 1:] = energy.cumsum(0).cumsum(1)
    sums = ii[size:, size:] - ii[:-size, size:] - ii[size:, :-size] + ii[:-size, :-size]
    # round so that float noise in the cumulative sums cannot change the argmax between runs
    flat = int(np.argmax(np.round(sums, 12)))
    return flat // sums.shape[1], flat % sums.shape[1]


def crop_window(
    samples: SampleSet, index: int, size: int, *, prefer_outliers: bool = True
) -> tuple[int, int, int, str]:
    """The zoom window of sample ``index``: ``(row, col, size, reason)``.

    Centred on the first outlier of the sample (outliers study), else on the hole's bounding
    box (inpainting), else the window of highest gradient energy of the target.
    """
    h, w = samples.target.shape[1:3]
    size = max(1, min(size, h, w))

    def centred(r: float, c: float) -> tuple[int, int]:
        r0 = int(round(r - size / 2 + 0.5))
        c0 = int(round(c - size / 2 + 0.5))
        return min(max(r0, 0), h - size), min(max(c0, 0), w - size)

    if prefer_outliers and samples.outlier_coords is not None and len(samples.outlier_coords):
        mine = samples.outlier_coords[samples.outlier_coords[:, 0] == index]
        if len(mine):
            r, c = centred(float(mine[0, 1]), float(mine[0, 2]))
            return r, c, size, "centred on an outlier pixel"
    if samples.mask is not None and samples.mask[index].any():
        rows, cols = np.nonzero(samples.mask[index])
        r, c = centred((rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2)
        return r, c, size, "centred on the hole"
    r, c = detail_window(samples.target[index], size)
    return r, c, size, "the target's most detailed region (highest gradient energy)"


def _mask_segments(mask: np.ndarray, r0: int = 0, c0: int = 0) -> list[list[tuple[float, float]]]:
    """Pixel-exact outline of a boolean mask as line segments in (x, y) image coordinates."""
    segs: list[list[tuple[float, float]]] = []
    m = np.pad(mask, 1)
    # vertical edges: mask changes between column j-1 and j
    dv = np.nonzero(m[1:-1, 1:] != m[1:-1, :-1])
    for i, j in zip(*dv):
        x = j - 0.5 - c0
        segs.append([(x, i - 0.5 - r0), (x, i + 0.5 - r0)])
    dh = np.nonzero(m[1:, 1:-1] != m[:-1, 1:-1])
    for i, j in zip(*dh):
        y = i - 0.5 - r0
        segs.append([(j - 0.5 - c0, y), (j + 0.5 - c0, y)])
    return segs


def _plain(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse <= 0 else 10.0 * math.log10(1.0 / mse)


def image_grid(
    samples: SampleSet,
    losses: Sequence[str],
    labels: Mapping[str, str],
    *,
    max_samples: int = 2,
    zoom_fraction: float = 1 / 3,
) -> tuple[bytes, str]:
    """Target, input (when it differs), each loss's output; a zoom row; an error-map row.

    Per sample three rows: the full images (crop rectangle, hole outline, outlier rings, PSNR
    of each image against the target), the zoomed crop, and ``|image - target|`` averaged
    over RGB. All error maps of the figure share ONE colour scale (0 to the 99.5th percentile
    of all shown errors, so that a few outlier pixels do not flatten the rest) with one
    colour bar.

    Returns:
        ``(png_bytes, crop_reason)``.
    """
    names = [x for x in losses if x in samples.outputs] + [x for x in samples.outputs if x not in losses]
    show_input = not np.allclose(samples.input, samples.target)
    cols: list[tuple[str, np.ndarray | None]] = [("target", samples.target)]
    if show_input:
        cols.append(("input", samples.input))
    cols += [(labels.get(x, x), samples.outputs[x]) for x in names]
    s_count = min(max_samples, samples.target.shape[0])
    p = samples.target.shape[1]
    zoom = max(4, int(round(p * zoom_fraction)))
    windows = [crop_window(samples, i, zoom) for i in range(s_count)]

    errors: dict[tuple[int, int], np.ndarray] = {}
    for i in range(s_count):
        for j, (_, imgs) in enumerate(cols):
            if j == 0 or imgs is None:
                continue
            errors[(i, j)] = np.abs(imgs[i] - samples.target[i]).mean(axis=2)
    allerr = np.concatenate([e.ravel() for e in errors.values()]) if errors else np.zeros(1)
    vmax = float(np.percentile(allerr, 99.5)) if allerr.size else 1.0
    vmax = max(vmax, 1e-6)
    clipped = bool(allerr.max() > vmax * (1 + 1e-9))

    ncols = len(cols)
    cell = 1.35
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(ncols * cell + 0.9, s_count * 3 * cell + 0.25 * s_count + 0.35))
        gs = fig.add_gridspec(
            s_count * 3, ncols + 1, width_ratios=[1] * ncols + [0.07], wspace=0.06, hspace=0.12,
            left=0.06, right=0.93, top=1 - 0.45 / fig.get_figheight(), bottom=0.02,
        )  # fmt: skip
        im_err = None
        for i in range(s_count):
            r0, c0, size, _ = windows[i]
            mask = samples.mask[i] if samples.mask is not None else None
            pts = None
            if samples.outlier_coords is not None and len(samples.outlier_coords):
                pts = samples.outlier_coords[samples.outlier_coords[:, 0] == i][:, 1:]
            for j, (title, imgs) in enumerate(cols):
                ax = fig.add_subplot(gs[3 * i, j])
                _plain(ax)
                img = imgs[i] if imgs is not None else samples.target[i]
                ax.imshow(img, vmin=0, vmax=1, interpolation="nearest")
                if i == 0:
                    ax.set_title(_text(title, 16), fontsize=8.5)
                if j == 0:
                    ax.set_ylabel(f"sample {i + 1}", fontsize=8)
                else:
                    val = _psnr(img, samples.target[i])
                    ax.set_xlabel("∞ dB" if math.isinf(val) else f"{val:.1f} dB", fontsize=7.5, labelpad=1.5)
                for lw, col in ((2.4, "black"), (1.2, _MARK)):
                    ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), size, size, fill=False, edgecolor=col, linewidth=lw))
                if mask is not None and mask.any():
                    ax.add_collection(LineCollection(_mask_segments(mask), colors=_HOLE, linewidths=1.0))
                if pts is not None and len(pts):
                    ax.scatter(pts[:, 1], pts[:, 0], s=28, facecolors="none", edgecolors=_OUTLIER, linewidths=0.9)
                ax.set_xlim(-0.5, img.shape[1] - 0.5)
                ax.set_ylim(img.shape[0] - 0.5, -0.5)

                axz = fig.add_subplot(gs[3 * i + 1, j])
                _plain(axz)
                axz.imshow(img[r0 : r0 + size, c0 : c0 + size], vmin=0, vmax=1, interpolation="nearest")
                if mask is not None:
                    segs = _mask_segments(mask[r0 : r0 + size, c0 : c0 + size])
                    if segs:
                        axz.add_collection(LineCollection(segs, colors=_HOLE, linewidths=1.2))
                for spine in axz.spines.values():
                    spine.set_visible(True)
                    spine.set_edgecolor(_MARK)
                    spine.set_linewidth(1.5)
                if j == 0:
                    axz.set_ylabel("zoom", fontsize=8)

                axe = fig.add_subplot(gs[3 * i + 2, j])
                _plain(axe)
                if j == 0:
                    axe.set_ylabel("|image − target|", fontsize=8)
                    continue
                im_err = axe.imshow(errors[(i, j)], cmap=ERROR_CMAP, vmin=0, vmax=vmax, interpolation="nearest")
        if im_err is not None:
            cax = fig.add_subplot(gs[:, ncols])
            cb = fig.colorbar(im_err, cax=cax, extend="max" if clipped else "neither")
            cb.set_label("mean |error| over RGB (shared scale)", fontsize=7.5)
            cb.ax.tick_params(labelsize=7)
        data = _png(fig)
    return data, windows[0][3] if windows else ""


# ---------------------------------------------------------------- spectra


def _plain_log_ticks(ax: Any, axes: str = "xy") -> None:
    """Log axes with plain major labels (0.1, 0.2, 10, 100) and unlabelled minor ticks."""
    major = FuncFormatter(lambda v, _pos: f"{v:g}")
    for name in axes:
        axis = ax.xaxis if name == "x" else ax.yaxis
        if axis.get_scale() != "log":
            continue
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
        axis.set_major_formatter(major)
        axis.set_minor_formatter(NullFormatter())


def spectra_figure(samples: SampleSet, losses: Sequence[str], labels: Mapping[str, str]) -> bytes | None:
    """Radially averaged power spectra per loss (log-log, target dashed) and their ratio to the target.

    Returns None when the samples hold no spectra.
    """
    if samples.spectrum_freqs is None or samples.spectrum_target is None or not samples.spectra:
        return None
    f = np.asarray(samples.spectrum_freqs, dtype=float)
    t = np.asarray(samples.spectrum_target, dtype=float)
    keep = (f > 0) & np.isfinite(t) & (t > 0)
    if keep.sum() < 2:
        return None
    names = [x for x in losses if x in samples.spectra] + [x for x in samples.spectra if x not in losses]
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.6, 3.0))
        ax, axr = fig.subplots(1, 2)
        ax.loglog(f[keep], t[keep], color="black", linestyle="--", linewidth=1.6, label="target")
        axr.axhline(1.0, color="black", linestyle="--", linewidth=1.2, label="target")
        axr.set_xscale("log")
        ratios: list[np.ndarray] = []
        for k, name in enumerate(names):
            st = loss_style(losses.index(name) if name in losses else k)
            pw = np.asarray(samples.spectra[name], dtype=float)
            if pw.shape != f.shape:
                continue
            ok = keep & np.isfinite(pw) & (pw > 0)
            lab = _text(labels.get(name, name), 28)
            ax.loglog(f[ok], pw[ok], color=st["color"], linestyle=st["linestyle"], linewidth=1.3, label=lab)
            axr.plot(f[ok], pw[ok] / t[ok], color=st["color"], linestyle=st["linestyle"], linewidth=1.3, label=lab)
            ratios.append(pw[ok] / t[ok])
        ax.set_xlabel("spatial frequency (cycles / pixel)")
        ax.set_ylabel("power")
        ax.set_title("Radially averaged power spectrum")
        axr.set_xlabel("spatial frequency (cycles / pixel)")
        axr.set_ylabel("power / target power")
        axr.set_title("Ratio to target (below 1 = blurrier)")
        allr = np.concatenate(ratios) if ratios else np.ones(1)
        if allr.size and allr.max() / max(allr.min(), 1e-12) > 20:
            axr.set_yscale("log")  # ratios over decades: log; otherwise linear reads better
        for a in (ax, axr):
            a.grid(True, which="major")
            _plain_log_ticks(a)
        axr.legend(loc="lower left")
        fig.subplots_adjust(left=0.09, right=0.985, bottom=0.16, top=0.9, wspace=0.3)
        return _png(fig)


# ---------------------------------------------------------------- scatter


def _stat(runs: Sequence[Mapping[str, Any]], key: str) -> tuple[float, float] | None:
    vals = [float(r[key]) for r in runs if isinstance(r.get(key), float)]
    if not vals:
        return None
    arr = np.asarray(vals)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def sharpness_fidelity_figure(
    runs: Sequence[Mapping[str, Any]],
    losses: Sequence[str],
    labels: Mapping[str, str],
    *,
    fidelity: str = "psnr",
    sharpness: str = "sharp_gradient",
    ideal: float = 1.0,
) -> bytes | None:
    """Sharpness ratio against fidelity, one point per loss: mean ± std over seeds.

    Returns None when no loss has both metrics.
    """
    points = []
    for k, loss in enumerate(losses):
        lr = [r for r in runs if r.get("loss") == loss]
        fx, sy = _stat(lr, fidelity), _stat(lr, sharpness)
        if fx is not None and sy is not None:
            points.append((k, loss, fx, sy))
    if not points:
        return None
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(5.2, 3.4))
        ax = fig.subplots()
        ax.axhline(ideal, color="black", linestyle="--", linewidth=1.0, label=f"target sharpness ({ideal:g})")
        for k, loss, (mx, sx), (my, sy) in points:
            st = loss_style(k)
            ax.errorbar(
                mx, my, xerr=sx, yerr=sy, color=st["color"], marker=st["marker"], markersize=6,
                linestyle="none", capsize=2.5, elinewidth=1.0, label=_text(labels.get(loss, loss), 28),
            )  # fmt: skip
        ax.set_xlabel(f"{fidelity} (higher is better) →")
        ax.set_ylabel(f"{sharpness} (closest to {ideal:g} is best)")
        ax.set_title("Sharpness vs fidelity (mean ± std over seeds)")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
        ax.margins(x=0.15, y=0.2)
        fig.subplots_adjust(left=0.12, right=0.66, bottom=0.15, top=0.9)
        return _png(fig)


# ---------------------------------------------------------------- curves


def _band(series: Sequence[Sequence[float | None]]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    rows = [np.array([np.nan if v is None else v for v in s], dtype=float) for s in series if s]
    if not rows:
        return None
    n = min(len(r) for r in rows)
    if n == 0:
        return None
    m = np.stack([r[:n] for r in rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, drawn as gaps
        return np.nanmean(m, axis=0), np.nanmin(m, axis=0), np.nanmax(m, axis=0)


def curves_figure(
    runs: Sequence[Mapping[str, Any]],
    losses: Sequence[str],
    labels: Mapping[str, str],
    *,
    eval_metric: str | None = None,
) -> tuple[bytes, str] | None:
    """Training loss and one evaluation metric against step, per loss: mean over seeds and
    min-max band; switch steps of scheduled recipes as vertical dotted lines.

    Returns ``(png, eval_metric)`` or None when no run has a curve.
    """
    have_train = any(r.get("curve", {}).get("train_loss") for r in runs)
    evals = [k for r in runs for k in (r.get("curve", {}).get("eval") or {})]
    if eval_metric is None or eval_metric not in evals:
        pref = [m for m in ("psnr", "hole_psnr", "ssim") if m in evals]
        eval_metric = pref[0] if pref else (sorted(set(evals))[0] if evals else None)
    if not have_train and eval_metric is None:
        return None
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.6, 3.0))
        ax, axe = fig.subplots(1, 2)
        positive = True
        switch_lines: list[tuple[int, str, str]] = []
        for k, loss in enumerate(losses):
            lr = [r for r in runs if r.get("loss") == loss and r.get("curve")]
            if not lr:
                continue
            st = loss_style(k)
            lab = _text(labels.get(loss, loss), 28)
            steps = lr[0]["curve"].get("train_step") or []
            band = _band([r["curve"].get("train_loss") or [] for r in lr])
            if band is not None and steps:
                mean, lo, hi = band
                n = min(len(steps), len(mean))
                x = np.asarray(steps[:n], dtype=float)
                ax.plot(x, mean[:n], color=st["color"], linestyle=st["linestyle"], linewidth=1.3, label=lab)
                ax.fill_between(x, lo[:n], hi[:n], color=st["color"], alpha=0.18, linewidth=0)
                positive = positive and bool(np.all(lo[:n][np.isfinite(lo[:n])] > 0))
            esteps = lr[0]["curve"].get("eval_step") or []
            if eval_metric is not None:
                eb = _band([(r["curve"].get("eval") or {}).get(eval_metric) or [] for r in lr])
                if eb is not None and esteps:
                    mean, lo, hi = eb
                    n = min(len(esteps), len(mean))
                    x = np.asarray(esteps[:n], dtype=float)
                    axe.plot(x, mean[:n], color=st["color"], linestyle=st["linestyle"], marker=st["marker"],
                             markersize=3, linewidth=1.3, label=lab)  # fmt: skip
                    axe.fill_between(x, lo[:n], hi[:n], color=st["color"], alpha=0.18, linewidth=0)
            for s in sorted({int(s) for r in lr for s in (r.get("switch_steps") or [])}):
                switch_lines.append((s, st["color"], lab))
        for s, color, lab in switch_lines:
            for a in (ax, axe):
                a.axvline(s, color=color, linestyle=":", linewidth=1.4,
                          label=_text(f"switch: {lab}", 34) if a is axe else None)  # fmt: skip
        if positive and ax.lines:
            ax.set_yscale("log")
            _plain_log_ticks(ax, "y")
        ax.set_xlabel("training step")
        ax.set_ylabel("training loss (own scale per loss)")
        ax.set_title("Training loss (mean, min–max over seeds)")
        axe.set_xlabel("training step")
        axe.set_ylabel(eval_metric or "")
        axe.set_title(f"Evaluation: {eval_metric}" if eval_metric else "Evaluation")
        if axe.lines:
            axe.legend(loc="lower right")
        elif ax.lines:
            ax.legend(loc="upper right")
        fig.subplots_adjust(left=0.09, right=0.985, bottom=0.16, top=0.9, wspace=0.3)
        return _png(fig), eval_metric or ""
