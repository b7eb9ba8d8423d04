"""Charts drawn on the server with matplotlib (Agg), in a CJK font, as SVG text or PNG bytes.

Every chart function takes its words (titles, axis labels) from the caller, already translated,
and returns a Figure; ``svg`` and ``png`` turn it into what a page or a spreadsheet embeds. SVG
text is drawn as paths, so Chinese shows the same in any browser, with no web font.
"""
from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager
from matplotlib.figure import Figure

CJK_FONT_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
)
CJK_FAMILY = "Noto Sans CJK SC"
KEY_COLOUR = "#1b7a3d"
FLAG_COLOUR = "#c0392b"
BAR_COLOUR = "#3f6fb5"
_lock = threading.Lock()
_font_ready = False


def font_family() -> list[str]:
    """Register Noto Sans CJK (fonts-noto-cjk) once and make it the charts' font, with DejaVu Sans as fallback."""
    global _font_ready
    family = [CJK_FAMILY, "DejaVu Sans"]
    with _lock:
        if not _font_ready:
            for path in CJK_FONT_FILES:
                if Path(path).exists():
                    font_manager.fontManager.addfont(path)
            # Charts are the only thing this process draws, so the default can be set once here.
            matplotlib.rcParams["font.family"] = family if has_cjk_font() else ["DejaVu Sans"]
            matplotlib.rcParams["axes.unicode_minus"] = False
            matplotlib.rcParams["svg.fonttype"] = "path"
            matplotlib.rcParams["svg.hashsalt"] = "yingcai"
            _font_ready = True
    return family


def has_cjk_font() -> bool:
    """Whether the CJK font file is installed (charts in Chinese need it)."""
    return Path(CJK_FONT_FILES[0]).exists()


def _figure(width: float = 7.0, height: float = 3.6) -> Figure:
    font_family()
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    fig.set_facecolor("white")
    return fig


def svg(fig: Figure) -> str:
    """The figure as an SVG element (text drawn as paths), ready to place in a page."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    text = buffer.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def png(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (for spreadsheets and PDFs)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def score_histogram(totals: Sequence[float], max_score: float, *, title: str, xlabel: str, ylabel: str) -> Figure:
    """Histogram of total scores from 0 to the maximum."""
    fig = _figure()
    ax = fig.add_subplot()
    bins = int(min(max(round(max_score), 1), 40))
    ax.hist(list(totals), bins=bins, range=(0, max_score or 1), color=BAR_COLOUR, edgecolor="white")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    return fig


def league_histograms(groups: Sequence[tuple[str, Sequence[float]]], max_score: float, *, title: str,
                      xlabel: str) -> Figure:
    """One small histogram per league, on the same axes, so shapes compare at a glance."""
    count = max(len(groups), 1)
    cols = 4 if count > 6 else min(count, 3)
    rows = (count + cols - 1) // cols
    fig = _figure(width=2.3 * cols + 0.6, height=1.9 * rows + 0.7)
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False)
    bins = int(min(max(round(max_score), 1), 20))
    for index, ax in enumerate(axes.flat):
        if index >= len(groups):
            ax.set_visible(False)
            continue
        name, totals = groups[index]
        ax.hist(list(totals), bins=bins, range=(0, max_score or 1), color=BAR_COLOUR, edgecolor="white")
        ax.set_title(f"{name}（{len(totals)}）", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle(title)
    fig.supxlabel(xlabel, fontsize=9)
    return fig


def league_boxplot(groups: Sequence[tuple[str, Sequence[float]]], *, title: str, ylabel: str) -> Figure:
    """Box plots of total scores per league (median, quartiles, whiskers at 1.5 IQR), with the mean as a dot."""
    fig = _figure(width=max(6.0, 0.7 * len(groups) + 2), height=3.8)
    ax = fig.add_subplot()
    data = [list(t) for _, t in groups]
    if data:
        ax.boxplot(data, tick_labels=[name for name, _ in groups], showmeans=True,
                   meanprops={"marker": "o", "markerfacecolor": "white", "markeredgecolor": "black"})
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelrotation=35, labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def difficulty_discrimination(points: Sequence[tuple[str, float, float, bool]], *, title: str, xlabel: str,
                              ylabel: str) -> Figure:
    """Each item at (facility, corrected point-biserial); flagged items in red and labelled."""
    fig = _figure(width=6.4, height=4.2)
    ax = fig.add_subplot()
    ax.axhspan(-1, 0, color=FLAG_COLOUR, alpha=0.06)
    ax.axhline(0.2, color="grey", linewidth=0.8, linestyle="--")
    ax.axvspan(0, 0.2, color="grey", alpha=0.06)
    ax.axvspan(0.9, 1, color="grey", alpha=0.06)
    for label, p, r, flagged in points:
        if p is None or r is None:
            continue
        ax.scatter([p], [r], color=FLAG_COLOUR if flagged else BAR_COLOUR, s=36 if flagged else 24, zorder=3)
        ax.annotate(label, (p, r), textcoords="offset points", xytext=(4, 3), fontsize=8,
                    color=FLAG_COLOUR if flagged else "#333333")
    ax.set_xlim(0, 1)
    low = min([r for *_, r, _ in points if r is not None] + [-0.1])
    ax.set_ylim(min(-0.2, low - 0.05), 1)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig


def option_curve(group_means: Sequence[float], shares: Sequence[tuple[str, Sequence[float], bool]], *, title: str,
                 xlabel: str, ylabel: str) -> Figure:
    """Share choosing each option across score groups; the key is drawn thick and green."""
    fig = _figure(width=6.0, height=3.6)
    ax = fig.add_subplot()
    for label, values, is_key in shares:
        ax.plot(list(group_means), list(values), marker="o", linewidth=2.6 if is_key else 1.3,
                color=KEY_COLOUR if is_key else None, label=label)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if shares:
        ax.legend(fontsize=8, loc="best")
    return fig
