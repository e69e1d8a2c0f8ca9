"""The shift handover report as a printable HTML page. Pure: values in, text out.

Everything that came from users or devices is escaped. The page has no scripts
and no external resources, so it prints the same anywhere, offline.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from html import escape

from hub.alerts import Alert
from ops_console.alert_reports import Handover, HandoverEntry

_STYLE = """
body { font-family: "Noto Sans KR", "Noto Sans CJK KR", sans-serif; margin: 2em; color: #111; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; } .critical { font-weight: bold; color: #a00; } .warning { color: #a60; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
@media print { body { margin: 0; } a { color: inherit; text-decoration: none; } }
"""


def _t(value: datetime | None, tz: tzinfo) -> str:
    return "" if value is None else value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _rows(header: Iterable[str], rows: Iterable[Iterable[str]], empty: str) -> str:
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f"<p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _alert_row(a: Alert, tz: tzinfo) -> list[str]:
    assignee = a.assignee_agency or a.assignee_user or ""
    return [str(a.id), f'<span class="{escape(a.severity)}">{escape(a.severity)}</span>', escape(a.state),
            escape(a.title), escape(a.zone or ""), escape(a.device_id or ""), str(a.count),
            _t(a.created_at, tz), escape(assignee)]


def _entry_row(e: HandoverEntry, tz: tzinfo, with_text: bool) -> list[str]:
    details = e.details
    if with_text:
        what = escape(str(details.get("text", "")))
    else:
        shown = ", ".join(f"{k}={v}" for k, v in details.items() if v is not None and k != "text")
        what = escape(f"{e.from_state or ''} → {e.to_state}" + (f" ({shown})" if shown else ""))
    return [_t(e.at, tz), str(e.alert_id), escape(e.alert_title), escape(e.actor), escape(e.action), what]


def render(report: Handover, tz: tzinfo) -> str:
    k = report.kpis
    pct = "n/a" if k.devices_online_pct is None else f"{k.devices_online_pct:.1f} %"
    mtta = "n/a" if k.mean_time_to_acknowledge_s is None else f"{k.mean_time_to_acknowledge_s / 60:.1f} min"
    mttr = "n/a" if k.mean_time_to_resolve_s is None else f"{k.mean_time_to_resolve_s / 60:.1f} min"
    by_sev = ", ".join(f"{s} {n}" for s, n in k.open_by_severity.items())
    zone = f" — zone {escape(report.zone)}" if report.zone else ""
    summary = (
        f"<dl><dt>Devices online</dt><dd>{k.devices_online} / {k.devices_total} ({pct})</dd>"
        f"<dt>Open alerts</dt><dd>{k.open_total} ({escape(by_sev)})</dd>"
        f"<dt>Raised this shift</dt><dd>{report.raised}</dd>"
        f"<dt>Mean time to acknowledge today</dt><dd>{mtta}</dd>"
        f"<dt>Mean time to resolve today</dt><dd>{mttr}</dd></dl>"
    )
    open_table = _rows(["#", "severity", "state", "alert", "zone", "device", "count", "raised", "assignee"],
                       (_alert_row(a, tz) for a in report.open_alerts), "No open alerts.")
    actions = _rows(["time", "#", "alert", "by", "action", "change"],
                    (_entry_row(e, tz, False) for e in report.actions), "No actions this shift.")
    notes = _rows(["time", "#", "alert", "by", "action", "note"],
                  (_entry_row(e, tz, True) for e in report.notes), "No notes this shift.")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Shift handover {_t(report.since, tz)} – {_t(report.until, tz)}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Shift handover{zone}</h1>"
        f"<p>{_t(report.since, tz)} – {_t(report.until, tz)} ({escape(str(tz))})</p>"
        f"<h2>Summary</h2>{summary}<h2>Open alerts</h2>{open_table}"
        f"<h2>Actions taken</h2>{actions}<h2>Notes</h2>{notes}</body></html>"
    )
