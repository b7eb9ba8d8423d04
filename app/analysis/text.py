"""The words of the analysis pages, charts and report, through the translation layer (Chinese source)."""
from __future__ import annotations

import math
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.domain.statistics import Flag

SEVERITY_LABELS = {"error": _l("严重"), "warning": _l("注意"), "info": _l("提示")}
SEVERITY_BADGES = {"error": "badge-bad", "warning": "badge-warn", "info": ""}
DIF_CLASS_LABELS = {"A": _l("A 类：可忽略"), "B": _l("B 类：中等"), "C": _l("C 类：较大")}


def option_letter(index: int) -> str:
    """A, B, C… for options in the bank's order (students saw them shuffled)."""
    return chr(ord("A") + index) if index < 26 else str(index + 1)


def option_label(item_info: Any, option_id: str) -> str:
    """How teachers name an option: its letter in the bank's order, or 正确/错误 for true/false."""
    if option_id == "":
        return _("未作答")
    if item_info.type == "true_false":
        return _("正确") if option_id == "true" else _("错误")
    ids = [o for o, _text in item_info.options]
    return option_letter(ids.index(option_id)) if option_id in ids else option_id


def number(value: float | None, digits: int = 2) -> str:
    """A figure for a table ('—' when it does not exist)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}"


def percent(value: float | None) -> str:
    """A share as a whole percentage."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value * 100:.0f}%"


def flag_text(flag: Flag, item_info: Any, league_names: dict[str, str] | None = None) -> str:
    """Plain-language advice for one flag."""
    d = flag.detail
    if flag.code == "negative_discrimination":
        return _("区分度为负（D = %(d)s，校正点二列相关 r = %(r)s）：高分考生反而更容易答错。请先检查答案是否正确。",
                 d=number(d.get("d")), r=number(d.get("r")))
    if flag.code == "low_discrimination":
        return _("区分度接近零（r = %(r)s）：这道题几乎分不出高分和低分考生。请检查答案和题干是否有歧义。",
                 r=number(d.get("r")))
    if flag.code == "distractor_beats_key":
        return _("高分组选择干扰项 %(option)s 的比例（%(upper)s）高于正确答案（%(key)s）：请核对答案，可能应为 %(option)s。",
                 option=option_label(item_info, d["option"]), upper=percent(d.get("upper")),
                 key=percent(d.get("key_upper")))
    if flag.code == "too_easy":
        return _("题目过易（通过率 %(p)s）：几乎所有考生都答对，对选拔帮助不大。", p=percent(d.get("p")))
    if flag.code == "too_hard":
        return _("题目过难（通过率 %(p)s）：请确认是否超出要求，或题目、答案有误。", p=percent(d.get("p")))
    if flag.code == "unused_distractor":
        return _("干扰项 %(option)s 无人选择：它没有起到干扰作用，建议替换。", option=option_label(item_info, d["option"]))
    if flag.code == "rasch_misfit":
        return _("与 Rasch 模型拟合不佳（infit %(infit)s，outfit %(outfit)s）：作答规律与其他题目不一致，请检查题干是否有歧义或多个正确答案。",
                 infit=number(d.get("infit")), outfit=number(d.get("outfit")))
    if flag.code == "dif":
        league = (league_names or {}).get(d.get("league"), d.get("league"))
        return _("盟市间项目功能差异（%(league)s，ETS %(cls)s 类，Δ = %(delta)s）：水平相当的考生在不同盟市答对的机会不同，请检查是否依赖地区性的知识或表述。",
                 league=league, cls=d.get("class"), delta=number(d.get("delta")))
    return flag.code


def chart_words() -> dict[str, str]:
    """Titles and axis labels of the charts, in the reader's language."""
    return {
        "histogram_title": _("总分分布"), "score": _("总分"), "students": _("人数"),
        "league_hist_title": _("各盟市总分分布"), "box_title": _("各盟市总分比较"),
        "scatter_title": _("题目难度与区分度"), "facility": _("通过率 p（越大越容易）"),
        "discrimination": _("区分度（校正点二列相关）"), "curve_title": _("第 %(n)s 题选项曲线"),
        "group_mean": _("分组平均总分"), "share": _("选择该项的比例"), "key_suffix": _("（答案）"),
    }
