"""Render an analytics report dict as one self-contained HTML page (plots as inline SVG, no external files).

matplotlib's object API is used (no pyplot), so rendering holds no global state and needs no display.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import jinja2
import numpy as np
from markupsafe import Markup
from matplotlib.figure import Figure

_TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>User behaviour {{ r.range.from }} to {{ r.range.to }}</title>
<style>
 body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
 h1 { font-size: 24px; } h2 { font-size: 18px; border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 32px; }
 .cards { display: flex; flex-wrap: wrap; gap: 12px; }
 .card { background: #f2f5fa; border-radius: 6px; padding: 10px 16px; min-width: 130px; }
 .card b { display: block; font-size: 22px; color: #1f4e8c; }
 table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
 td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; } th { background: #f2f5fa; }
 .plot svg { max-width: 100%; height: auto; } .note { color: #666; font-size: 12px; }
 .warn { background: #fff6e0; border-left: 4px solid #d99a00; padding: 6px 12px; font-size: 13px; }
</style></head><body>
<h1>User behaviour report</h1>
<p>Events from <b>{{ r.range.from }}</b> up to, not including, <b>{{ r.range.to }}</b> (UTC days).</p>
{% if r.warnings %}<div class="warn"><b>Read with care:</b><ul>{% for w in r.warnings %}<li>{{ w }}</li>{% endfor %}
</ul></div>{% endif %}
{% if r.previous_period %}<p class="note">Against the previous {{ r.dau|length }} days
 ({{ r.previous_period.previous.from }} to {{ r.previous_period.previous.to }}): events
 {{ delta(r.previous_period.change.events) }}, users {{ delta(r.previous_period.change.users) }}, mean DAU
 {{ delta(r.previous_period.change.mean_dau) }}.</p>{% endif %}
<div class="cards">
 <div class="card"><b>{{ "{:,}".format(r.summary.events) }}</b>events</div>
 <div class="card"><b>{{ "{:,}".format(r.summary.users) }}</b>users</div>
 <div class="card"><b>{{ "{:,}".format(r.summary["items"]) }}</b>items</div>
 {% if r.stickiness.dau_over_mau is not none %}<div class="card"><b>{{ pct(r.stickiness.dau_over_mau) }}</b>
  stickiness (DAU/MAU)</div>{% else %}<div class="card"><b>{{ pct(r.stickiness.dau_over_wau) }}</b>
  stickiness (DAU/WAU)</div>{% endif %}
 <div class="card"><b>{{ pct(r.funnel.overall_conversion) }}</b>
  {{ r.funnel.steps[0] }} &rarr; {{ r.funnel.steps[-1] }}</div>
 <div class="card"><b>{{ "{:,}".format(r.sessions.sessions) }}</b>sessions</div>
</div>
<h2>Active users</h2>
<div class="plot">{{ plots.dau }}</div>
<p class="note">WAU and MAU are rolling 7 and 30 day windows inside the range. Stickiness (over days whose
 whole window lies in the range; n/a when the range is shorter): mean DAU/WAU
 {{ pct(r.stickiness.dau_over_wau) }}, mean DAU/MAU {{ pct(r.stickiness.dau_over_mau) }}.
 New users (first seen in the range): {{ r.new_vs_returning.new_users }}; returning (seen before it):
 {{ r.new_vs_returning.returning_users }}.</p>
<h2>Funnel (conversion window {{ hours(r.funnel.window_seconds) }})</h2>
<div class="plot">{{ plots.funnel }}</div>
<table><tr><th>category</th>{% for s in r.funnel.steps %}<th>{{ s }}</th>{% endfor %}<th>conversion</th></tr>
<tr><th>all</th>{% for u in r.funnel.users %}<td>{{ u }}</td>{% endfor %}
 <td>{{ pct(r.funnel.overall_conversion) }}</td></tr>
{% for c in r.funnel.by_category %}<tr><th>{{ c.category }}</th>{% for u in c.users %}<td>{{ u }}</td>{% endfor %}
 <td>{{ pct(c.overall_conversion) }}</td></tr>
{% endfor %}</table>
<h2>Retention by first-seen week</h2>
<div class="plot">{{ plots.retention }}</div>
<h2>Sessions ({{ (r.sessions.gap_seconds // 60) }} min inactivity)</h2>
<table>
<tr><th>sessions</th><td>{{ r.sessions.sessions }}</td>
    <th>per user</th><td>{{ num(r.sessions.sessions_per_user) }}</td></tr>
<tr><th>mean length</th><td>{{ num(r.sessions.mean_length_seconds) }} s</td>
    <th>median length</th><td>{{ num(r.sessions.median_length_seconds) }} s</td></tr>
<tr><th>mean events</th><td>{{ num(r.sessions.mean_events_per_session) }}</td>
    <th>median events</th><td>{{ num(r.sessions.median_events_per_session) }}</td></tr>
</table>
<h2>Item long tail</h2>
<div class="plot">{{ plots.long_tail }}</div>
<p class="note">Top 1% of items: {{ pct(r.long_tail.top_1pct_share) }} of events; top 10%:
 {{ pct(r.long_tail.top_10pct_share) }}; Gini {{ num(r.long_tail.gini) }} over {{ r.long_tail["items"] }} items.</p>
<script type="application/json" id="report-data">{{ data }}</script>
</body></html>
"""
)


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE: inline SVG must not carry them


def _figure(width: float = 10, height: float = 3.6) -> Figure:
    fig = Figure(figsize=(width, height))
    fig.set_layout_engine("tight")
    return fig


def plot_active_users(report: dict) -> str:
    fig = _figure()
    ax = fig.add_subplot()
    days = list(report["dau"])
    x = np.arange(len(days))
    ax.plot(x, [report["dau"][d] for d in days], marker="o", ms=3, label="DAU")
    ax.plot(x, [report["wau"][d] for d in days], ls="--", label="WAU (rolling 7 d)")
    ax.plot(x, [report["mau"][d] for d in days], ls=":", label="MAU (rolling 30 d)")
    ax.bar(x, [report["new_vs_returning"]["daily_new"][d] for d in days], alpha=0.3, label="new users")
    step = max(1, len(days) // 12)
    ax.set_xticks(x[::step], [d[5:] for d in days[::step]])
    ax.set_ylabel("users")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


def plot_funnel(report: dict) -> str:
    f = report["funnel"]
    fig = _figure(height=2.8)
    ax = fig.add_subplot()
    y = np.arange(len(f["steps"]))[::-1]
    bars = ax.barh(y, f["users"], color="#3b6fb6")
    first = f["users"][0] or 1
    for bar, n in zip(bars, f["users"], strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {n:,} ({n / first:.0%})", va="center")
    ax.set_yticks(y, f["steps"])
    ax.set_xlabel("users")
    ax.set_xlim(0, first * 1.25)
    return _svg(fig)


def plot_retention(report: dict) -> str:
    ret = report["retention"]
    rows = ret["rates"]
    fig = _figure(height=max(2.0, 0.45 * len(rows) + 1.2))
    ax = fig.add_subplot()
    if not rows:
        ax.text(0.5, 0.5, "no new users in this range", ha="center", va="center")
        ax.set_axis_off()
        return _svg(fig)
    width = max(len(r) for r in rows)
    grid = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        grid[i, : len(r)] = r
    im = ax.imshow(grid, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i, r in enumerate(rows):
        for k, v in enumerate(r):
            ax.text(k, i, f"{v:.0%}", ha="center", va="center", fontsize=8, color="white" if v > 0.6 else "black")
    ax.set_xticks(range(width), [f"week {k}" for k in range(width)])
    ax.set_yticks(range(len(rows)), [f"{c} (n={n})" for c, n in zip(ret["cohorts"], ret["sizes"], strict=True)])
    fig.colorbar(im, ax=ax, fraction=0.03)
    return _svg(fig)


def plot_long_tail(report: dict) -> str:
    fig = _figure(width=6, height=3.6)
    ax = fig.add_subplot()
    curve = np.asarray(report["long_tail"]["curve"] or [[0.0, 0.0]])
    ax.plot(np.r_[0, curve[:, 0]], np.r_[0, curve[:, 1]], label="items, most popular first")
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="uniform")
    ax.set_xlabel("share of items")
    ax.set_ylabel("share of events")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


def render_html(report: dict) -> str:
    """The report page: summary cards, the four plots, tables, and the numbers as embedded JSON."""
    # Plots and the JSON are ours, not user text: mark them safe; everything else (category names) is escaped.
    plots = {
        "dau": Markup(plot_active_users(report)),
        "funnel": Markup(plot_funnel(report)),
        "retention": Markup(plot_retention(report)),
        "long_tail": Markup(plot_long_tail(report)),
    }
    return _TEMPLATE.render(
        r=report,
        plots=plots,
        data=Markup(json.dumps(report, default=str).replace("</", "<\\/")),
        pct=lambda x: "n/a" if x is None else f"{x:.1%}",
        num=lambda x: "n/a" if x is None else f"{x:,.2f}",
        hours=lambda s: f"{s / 3600:g} h",
        delta=lambda x: "n/a" if x is None else f"{x:+.1%}",
    )


def write_html(report: dict, out: str | Path) -> Path:
    """Write the page atomically (temp file then rename), so a reader never sees half a report."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(render_html(report), encoding="utf-8")
    tmp.replace(out)
    return out
