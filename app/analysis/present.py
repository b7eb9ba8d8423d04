"""From an analysis to what people see: league names, charts and the rows of the item tables."""
from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.analysis.text import chart_words, flag_text, option_label
from app.i18n import is_zh
from app.models import League
from app.services import charts
from app.services.analysis import ExamAnalysis, ItemResult


def league_names(session: Session) -> dict[str, str]:
    """League code → name in the reader's language."""
    zh = is_zh()
    return {lg.code: (lg.name_zh if zh else lg.name_en) for lg in session.scalars(select(League).order_by(League.code))}


def exam_figures(result: ExamAnalysis, names: dict[str, str]) -> dict[str, Figure]:
    """The exam's charts: score histogram, league box plots and histograms, difficulty vs discrimination."""
    w = chart_words()
    groups = [(names.get(lg.code, lg.code), lg.totals) for lg in result.leagues]
    return {
        "histogram": charts.score_histogram(result.totals, result.max_score or 1, title=w["histogram_title"],
                                            xlabel=w["score"], ylabel=w["students"]),
        "boxplot": charts.league_boxplot(groups, title=w["box_title"], ylabel=w["score"]),
        "league_histograms": charts.league_histograms(groups, result.max_score or 1, title=w["league_hist_title"],
                                                      xlabel=w["score"]),
        "scatter": charts.difficulty_discrimination(
            [(str(i.info.number), i.facility, i.point_biserial, any(f.severity != "info" for f in i.flags))
             for i in result.items], title=w["scatter_title"], xlabel=w["facility"], ylabel=w["discrimination"]),
    }


def curve_figure(item: ItemResult) -> Figure | None:
    """The option curve of a choice item (None for other types)."""
    if item.curve is None:
        return None
    w = chart_words()
    keyed = set(item.info.answer)
    shares = [(option_label(item.info, o) + (w["key_suffix"] if o in keyed else ""), item.curve.shares[o], o in keyed)
              for o, _text in item.info.options]
    return charts.option_curve(item.curve.group_means, shares, title=w["curve_title"] % {"n": item.info.number},
                               xlabel=w["group_mean"], ylabel=w["share"])


def flag_rows(item: ItemResult, names: dict[str, str]) -> list[dict[str, Any]]:
    """An item's flags as {severity, text}."""
    return [{"severity": f.severity, "code": f.code, "text": flag_text(f, item.info, names)} for f in item.flags]


def option_rows(item: ItemResult) -> list[dict[str, Any]]:
    """The distractor table of a choice item, options labelled as teachers know them."""
    if item.options is None:
        return []
    texts = dict(item.info.options)
    return [{"label": option_label(item.info, row.option), "text": texts.get(row.option, ""), "row": row}
            for row in item.options]
