"""Plotly figures built from aggregates (slice metrics, curve points, histograms).

Each figure is returned as plain JSON-able data (`data` + `layout`); the HTML page embeds
plotly.js once and draws every figure from its spec, so the page opens offline.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.utils import PlotlyJSONEncoder

FONT = "Noto Sans CJK SC, Noto Sans SC, PingFang SC, Microsoft YaHei, Arial, sans-serif"
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def to_spec(fig: go.Figure) -> dict[str, Any]:
    """Plain JSON data of a figure (numpy arrays become lists)."""
    fig.update_layout(font={"family": FONT, "size": 12}, template="plotly_white",
                      margin={"l": 60, "r": 20, "t": 40, "b": 50})
    spec = json.loads(json.dumps(fig.to_plotly_json(), cls=PlotlyJSONEncoder))
    spec["layout"].pop("template", None)  # the default theme is ~8 kB per figure: keep it lean
    spec["layout"]["plot_bgcolor"] = "#ffffff"
    return spec


def heatmap(values: pd.DataFrame, low: pd.DataFrame, title: str, colorbar: str,
            reverse: bool, low_mark: str, hover: str) -> dict[str, Any]:
    """A heatmap of a ratio per (row, column); cells with low support carry `low_mark`."""
    z = np.round(values.to_numpy(dtype=float), 4)
    lows = low.reindex_like(values).fillna(False).to_numpy(dtype=bool) & np.isfinite(z)
    text = np.where(np.isnan(z), "", np.char.add(
        np.char.mod("%.0f%%", np.nan_to_num(z) * 100), np.where(lows, low_mark, "")))
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(c) for c in values.columns], y=[str(r) for r in values.index], text=text,
        texttemplate="%{text}", zmin=0, zmax=float(np.nanmax(z)) if reverse and
        np.isfinite(z).any() else 1, colorscale="RdYlGn_r" if reverse else "RdYlGn",
        colorbar={"title": colorbar, "tickformat": ".0%"}, hoverongaps=False,
        hovertemplate=hover + "<extra></extra>"))
    if lows.any():
        rows, cols = np.nonzero(lows)
        fig.add_trace(go.Scatter(
            x=[str(values.columns[c]) for c in cols], y=[str(values.index[r]) for r in rows],
            mode="markers", marker={"symbol": "square-open", "size": 26, "color": "#444",
                                    "line": {"width": 1}},
            hoverinfo="skip", showlegend=False))
    fig.update_layout(title=title, height=max(260, 34 * len(values.index) + 120),
                      xaxis={"tickangle": -30, "automargin": True},
                      yaxis={"automargin": True})
    return to_spec(fig)


def lines(curves: dict[str, pd.DataFrame], x: str, y: str, title: str, xtitle: str,
          ytitle: str, diagonal: bool = False) -> dict[str, Any]:
    fig = go.Figure()
    for i, (model, frame) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=frame[x].round(5), y=frame[y].round(5), mode="lines+markers"
                                 if len(frame) <= 20 else "lines", name=model,
                                 line={"color": PALETTE[i % len(PALETTE)]}))
    if diagonal:
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="—",
                                 line={"dash": "dot", "color": "#888"}, showlegend=False))
    fig.update_layout(title=title, xaxis={"title": xtitle, "range": [0, 1]},
                      yaxis={"title": ytitle, "range": [0, 1.02]}, height=380)
    return to_spec(fig)


def histogram(frame: pd.DataFrame, title: str, xtitle: str, ytitle: str,
              names: dict[int, str]) -> dict[str, Any]:
    """Score distribution of one model by gold label, each label's bars as shares."""
    fig = go.Figure()
    for label, colour in ((0, "#1f77b4"), (1, "#d62728")):
        part = frame[frame["label"] == label]
        total = part["count"].sum()
        if total == 0:
            continue
        fig.add_trace(go.Bar(x=((part["bin_lower"] + part["bin_upper"]) / 2).round(4),
                             y=(part["count"] / total).round(5), name=names[label],
                             marker={"color": colour}, opacity=0.6,
                             width=float((part["bin_upper"] - part["bin_lower"]).iloc[0])))
    fig.update_layout(title=title, barmode="overlay", height=340,
                      xaxis={"title": xtitle, "range": [0, 1]},
                      yaxis={"title": ytitle, "tickformat": ".0%"})
    return to_spec(fig)


def forest(frame: pd.DataFrame, title: str, xtitle: str) -> dict[str, Any]:
    """Deltas with their intervals, one row per (candidate, slice, metric)."""
    colours = np.where(frame["verdict"] == "regressed", "#d62728", "#2ca02c")
    fig = go.Figure(go.Scatter(
        x=frame["delta"], y=frame["label"], mode="markers",
        marker={"color": colours.tolist(), "size": 9},
        error_x={"type": "data", "symmetric": False,
                 "array": (frame["delta_hi"] - frame["delta"]).tolist(),
                 "arrayminus": (frame["delta"] - frame["delta_lo"]).tolist()}))
    fig.add_vline(x=0, line={"color": "#888", "dash": "dot"})
    fig.update_layout(title=title, xaxis={"title": xtitle, "tickformat": "+.0%"},
                      height=max(260, 26 * len(frame) + 120),
                      yaxis={"autorange": "reversed", "automargin": True})
    return to_spec(fig)


def bars(labels: list[str], values: list[float], title: str, xtitle: str) -> dict[str, Any]:
    fig = go.Figure(go.Bar(x=values, y=labels, orientation="h", marker={"color": "#9467bd"}))
    fig.update_layout(title=title, xaxis={"title": xtitle}, height=max(240, 24 * len(labels)
                                                                         + 120),
                      yaxis={"autorange": "reversed", "automargin": True})
    return to_spec(fig)
