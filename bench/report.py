"""Writes BENCHMARKS.md, bench/results.json and the SVG plots from measured figures."""

from __future__ import annotations

import datetime
import html
import json
import os
import platform
import subprocess
from typing import Iterable, Union

from benchlib import Figure, Skipped

Result = Union[Figure, Skipped]


def _fmt(value: float, unit: str) -> str:
    if unit in ("ms", "us", "s"):
        return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    if unit == "MiB/s":
        return f"{value:.0f} {unit}"
    if unit in ("bytes", "B"):
        if value >= 1 << 20:
            return f"{value / (1 << 20):.2f} MiB"
        if value >= 1 << 10:
            return f"{value / (1 << 10):.1f} KiB"
        return f"{value:.0f} B"
    if unit == "KiB":
        return f"{value:.0f} KiB"
    return f"{value:.3g} {unit}"


def machine_summary() -> str:
    cpu = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = os.cpu_count()
    kernel = platform.release()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = "unknown"
    return f"{cpu}, {cores} cores, Linux {kernel}, commit {commit or 'unknown'}"


def write_json(results: Iterable[Result], path: str, meta: dict) -> None:
    payload = {"meta": meta, "results": [r.to_json() for r in results]}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _bar_svg(figures: list[Figure], title: str) -> str:
    """Horizontal bars, one pair per figure, each pair scaled to its own larger median.

    Figures have different units, so each row is normalised; the labels carry the values.
    """
    row_h, top, left, width = 46, 40, 330, 420
    height = top + row_h * len(figures) + 20
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 160}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<text x="10" y="22" font-size="15" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, fig in enumerate(figures):
        y = top + i * row_h
        ref = fig.reference
        scale = max(fig.ours.max, ref.max if ref else 0) or 1
        out.append(f'<text x="10" y="{y + 14}">{html.escape(fig.title[:48])}</text>')
        rows = [(fig.ours, "#2b6cb0", "ours")]
        if ref:
            rows.append((ref, "#a0aec0", "ref"))
        for j, (series, colour, tag) in enumerate(rows):
            by = y + j * 18
            w = series.median / scale * width
            lo = series.min / scale * width
            hi = series.max / scale * width
            out.append(f'<rect x="{left}" y="{by}" width="{w:.1f}" height="14" fill="{colour}"/>')
            out.append(
                f'<line x1="{left + lo:.1f}" y1="{by + 7}" x2="{left + hi:.1f}" y2="{by + 7}" '
                f'stroke="black" stroke-width="1"/>'
            )
            label = f"{tag}: {_fmt(series.median, series.unit)} ({html.escape(series.label)})"
            out.append(f'<text x="{left + width + 8}" y="{by + 11}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _timeline_svg(phases: list[tuple[str, float]], title: str) -> str:
    """A single boot timeline: named phases on one time axis (seconds of guest uptime)."""
    left, width, top = 20, 700, 50
    end = max((t for _, t in phases), default=1.0) or 1.0
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 40}" height="{top + 40 + 18 * len(phases)}" '
        f'font-family="sans-serif" font-size="12">',
        f'<text x="10" y="22" font-size="15" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{top}" x2="{left + width}" y2="{top}" stroke="black"/>',
    ]
    for i, (name, t) in enumerate(phases):
        x = left + t / end * width
        out.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{top + 6}" stroke="#2b6cb0" stroke-width="2"/>')
        out.append(f'<text x="{left}" y="{top + 26 + 18 * i}">{html.escape(name)}: {t:.2f} s</text>')
    out.append("</svg>")
    return "\n".join(out)


def write_plots(results: list[Result], directory: str, boot_phases: list[tuple[str, float]]) -> list[str]:
    os.makedirs(directory, exist_ok=True)
    written = []
    comparisons = [r for r in results if isinstance(r, Figure) and r.reference is not None]
    if comparisons:
        path = os.path.join(directory, "latency.svg")
        with open(path, "w") as f:
            f.write(_bar_svg(comparisons, "Ours vs reference (median, whiskers min..max)"))
        written.append(path)
    if boot_phases:
        path = os.path.join(directory, "boot-timeline.svg")
        with open(path, "w") as f:
            f.write(_timeline_svg(boot_phases, "Guest boot timeline (median)"))
        written.append(path)
    return written


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def write_markdown(results: list[Result], path: str, meta: dict, plots: list[str]) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run.py); do not edit by hand. Raw figures: "
        "[bench/results.json](bench/results.json).",
        "",
        f"- Measured: {meta['date']} on {meta['machine']}.",
        f"- Command: `{meta['command']}`" + (" (QUICK: reduced run counts)" if meta.get("quick") else ""),
        *[f"- Re-measured {u['date']} with `{u['command']}`: {', '.join(u['keys'])}"
          for u in meta.get("updates", [])],
        "- Each figure: median, min and max of the stated number of runs after a warm-up; "
        "comparisons are interleaved A B A B in the same run; ratio = ours / reference.",
        "",
    ]
    for plot in plots:
        rel = os.path.relpath(plot, os.path.dirname(os.path.abspath(path)))
        lines.append(f"![{os.path.basename(plot)}]({rel})")
    lines += [
        "",
        "| benchmark | ours (median, min..max) | reference (median, min..max) | ratio | target | standing |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        if isinstance(r, Skipped):
            lines.append(f"| {_cell(r.title)} | not measured | | | | {_cell(r.reason)} |")
            continue
        o = r.ours
        ours = f"{_fmt(o.median, o.unit)} ({_fmt(o.min, o.unit)}..{_fmt(o.max, o.unit)}, n={len(o.samples)})"
        ref = ""
        if r.reference:
            f = r.reference
            ref = f"{f.label}: {_fmt(f.median, f.unit)} ({_fmt(f.min, f.unit)}..{_fmt(f.max, f.unit)}, n={len(f.samples)})"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
        standing = {True: "met", False: "not met", None: ""}[r.met]
        if r.note:
            standing = f"{standing}; {r.note}" if standing else r.note
        lines.append(f"| {_cell(r.title)} | {ours} | {_cell(ref)} | {ratio} | {r.target} | {_cell(standing)} |")
    lines += ["", "## Commands", ""]
    for r in results:
        if isinstance(r, Figure) and r.command:
            lines.append(f"- {r.title}: `{r.command}`")
    lines.append("")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.replace(tmp, path)


def now_utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
