"""A classification report as a rich table: one row per class, then the macro and micro averages."""

import math

from rich.table import Table

from bigearth.evaluation.metrics import METRICS, ClassificationReport

_HEADERS = {"ap": "AP", "f1": "F1", "precision": "precision", "recall": "recall"}


def _cell(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def report_table(report: ClassificationReport, *, title: str = "") -> Table:
    """Return a rich table of a report; classes absent from the split are dimmed and show ``-``.

    Args:
        report: the metrics of one split.
        title: table title (e.g. the model and the split).
    """
    table = Table(title=title or None, caption=report.note, caption_justify="left")
    table.add_column("class")
    table.add_column("support", justify="right")
    for name in METRICS:
        table.add_column(_HEADERS[name], justify="right")
    for i, name in enumerate(report.class_names):
        style = None if report.support[i] else "dim"
        values = [_cell(report.per_class[metric][i]) for metric in METRICS]
        table.add_row(name, str(report.support[i]), *values, style=style)
    table.add_section()
    table.add_row("macro (present classes)", str(len(report.present)), *(_cell(report.macro[m]) for m in METRICS),
                  style="bold")  # fmt: skip
    table.add_row("micro", str(report.samples), *(_cell(report.micro[m]) for m in METRICS), style="bold")
    return table
