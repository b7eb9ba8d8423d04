"""The office's analysis report as an XLSX workbook: the tables of the pages, with the charts embedded.

Sheets: 概览 (summary and the exam charts), 题目 (item statistics with advice), 选项 (distractor
tables), 盟市 (league comparison), DIF (MH D-DIF per item and league). Text cells are written as
strings, never as formulas, so nothing a teacher typed can run in Excel.
"""
from __future__ import annotations

import io
import math
from urllib.parse import quote

import xlsxwriter
from flask_babel import gettext as _

from app.analysis.present import curve_figure, exam_figures, flag_rows, option_rows
from app.analysis.text import SEVERITY_LABELS
from app.models import Exam
from app.services import charts
from app.services.analysis import ExamAnalysis


def _sheet(title: str) -> str:
    """A worksheet name Excel accepts in any language (no []:*?/\\, at most 31 characters)."""
    return "".join("-" if ch in "[]:*?/\\" else ch for ch in title)[:31] or "Sheet"

def report_filename(exam: Exam) -> str:
    """A Content-Disposition filename (ASCII fallback and the Chinese title, RFC 6266)."""
    return f"analysis-exam-{exam.id}.xlsx; filename*=UTF-8''{quote(exam.title + ' 试题分析.xlsx')}"


def _value(sheet, row: int, col: int, value, fmt=None) -> None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        sheet.write_blank(row, col, None, fmt)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        sheet.write_number(row, col, value, fmt)
    else:
        sheet.write_string(row, col, str(value), fmt)


def _table(sheet, top: int, headers: list[str], rows: list[list], formats: dict) -> int:
    for col, header in enumerate(headers):
        sheet.write_string(top, col, header, formats["head"])
    for r, row in enumerate(rows, start=top + 1):
        for col, value in enumerate(row):
            fmt = formats["pct"] if isinstance(value, Percent) else formats["num"]
            _value(sheet, r, col, float(value) if isinstance(value, Percent) else value, fmt)
    return top + len(rows) + 2


class Percent(float):
    """A share, written with a percentage format."""


def _pct(value: float | None):
    return None if value is None or not math.isfinite(value) else Percent(value)


def build_xlsx(result: ExamAnalysis, names: dict[str, str]) -> bytes:
    """The workbook as bytes."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    formats = {"head": book.add_format({"bold": True, "bg_color": "#EEF2F7", "border": 1}),
               "num": book.add_format({"num_format": "0.00"}), "pct": book.add_format({"num_format": "0%"}),
               "title": book.add_format({"bold": True, "font_size": 14})}
    figures = exam_figures(result, names) if result.n_students else {}

    summary = book.add_worksheet(_sheet(_("概览")))
    summary.set_column(0, 0, 26)
    summary.set_column(1, 1, 14)
    summary.write_string(0, 0, result.title, formats["title"])
    facts = [(_("考生人数"), result.n_students), (_("满分"), result.max_score),
             (_("平均分"), result.distribution.mean), (_("标准差"), result.distribution.sd),
             (_("中位数"), result.distribution.median), (_("最低分"), result.distribution.minimum),
             (_("最高分"), result.distribution.maximum), (_("Cronbach α 信度"), result.alpha),
             (_("KR-20 信度"), result.kr20), (_("测量标准误 SEM"), result.sem),
             (_("平均用时（分钟）"), None if result.mean_time_seconds is None else result.mean_time_seconds / 60),
             (_("Rasch 考生信度"), result.person_reliability)]
    for r, (label, value) in enumerate(facts, start=2):
        summary.write_string(r, 0, label)
        _value(summary, r, 1, value, formats["num"])
    row = len(facts) + 3
    if result.pending:
        summary.write_string(row, 0, _("待阅卷、未纳入分析的题目：") + "、".join(str(i.number) for i in result.pending))
        row += 2
    for name in ("histogram", "boxplot", "scatter"):
        if name in figures:
            summary.insert_image(row, 0, f"{name}.png", {"image_data": io.BytesIO(charts.png(figures[name])),
                                                         "x_scale": 0.8, "y_scale": 0.8})
            row += 24

    items = book.add_worksheet(_sheet(_("题目")))
    headers = [_("题号"), _("题目编号"), _("题型"), _("分值"), _("通过率 p"), _("区分度 D"), _("校正点二列相关"),
               _("删除后 α"), _("未答率"), _("Rasch 难度"), _("标准误"), "Infit", "Outfit", _("DIF 最高类别"),
               _("提示")]
    rows = [[i.info.number, i.info.key, i.info.type, i.info.max_points, _pct(i.facility), i.discrimination,
             i.point_biserial, i.alpha_if_deleted, _pct(i.omission_rate), i.rasch_difficulty, i.rasch_se, i.infit,
             i.outfit, i.dif_class or "",
             "\n".join(f"[{SEVERITY_LABELS[f['severity']]}] {f['text']}" for f in flag_rows(i, names))]
            for i in result.items]
    _table(items, 0, headers, rows, formats)
    items.set_column(1, 1, 16)
    items.set_column(14, 14, 90)
    items.freeze_panes(1, 2)

    options = book.add_worksheet(_sheet(_("选项")))
    row = 0
    image_row = 0
    for item in result.items:
        table = option_rows(item)
        if not table:
            continue
        options.write_string(row, 0, _("第 %(n)s 题（%(key)s）", n=item.info.number, key=item.info.key), formats["head"])
        row = _table(options, row + 1, [_("选项"), _("是否答案"), _("全体"), _("高分组 27%"), _("中间组"),
                                        _("低分组 27%"), _("人数")],
                     [[o["label"], _("答案") if o["row"].is_key else "", _pct(o["row"].share), _pct(o["row"].upper),
                       _pct(o["row"].middle), _pct(o["row"].lower), o["row"].count] for o in table], formats)
        if any(f.severity != "info" for f in item.flags):
            fig = curve_figure(item)
            if fig is not None:
                options.insert_image(max(image_row, row - len(table) - 3), 8, f"curve-{item.info.number}.png",
                                     {"image_data": io.BytesIO(charts.png(fig)), "x_scale": 0.7, "y_scale": 0.7})
                image_row = max(image_row, row - len(table) - 3) + 20

    leagues = book.add_worksheet(_sheet(_("盟市")))
    _table(leagues, 0, [_("盟市"), _("代码"), _("人数"), _("平均分"), _("标准差"), _("最低分"), _("下四分位"),
                        _("中位数"), _("上四分位"), _("最高分")],
           [[names.get(lg.code, lg.code), lg.code, lg.stats.n, lg.stats.mean, lg.stats.sd, lg.stats.minimum,
             lg.stats.q1, lg.stats.median, lg.stats.q3, lg.stats.maximum] for lg in result.leagues], formats)
    leagues.set_column(0, 0, 16)
    if "league_histograms" in figures:
        leagues.insert_image(len(result.leagues) + 3, 0, "leagues.png",
                             {"image_data": io.BytesIO(charts.png(figures["league_histograms"])),
                              "x_scale": 0.8, "y_scale": 0.8})

    dif_sheet = book.add_worksheet(_sheet("DIF"))
    codes = [lg.code for lg in result.leagues]
    dif_sheet.write_string(0, 0, _("MH D-DIF（Δ，负值表示该盟市考生在同等总分下更难答对）与 ETS 类别"), formats["head"])
    _table(dif_sheet, 2, [_("题号"), _("题目编号")] + [names.get(c, c) for c in codes],
           [[i.info.number, i.info.key] + [_dif_cell(i.dif.get(c)) for c in codes] for i in result.items], formats)
    dif_sheet.set_column(2, 2 + len(codes), 14)
    book.close()
    return buffer.getvalue()


def _dif_cell(res) -> str:
    if res is None or math.isnan(res.delta):
        return "—"
    delta = "∞" if not math.isfinite(res.delta) else f"{res.delta:+.2f}"
    return f"{res.ets_class or '—'} ({delta})"
