#!/usr/bin/env python3
"""Draws the fleet benchmark as an SVG: lag p99 by fleet size, one line per database.

    ./target/release/ctl bench --fleet 32 --json > sqlite.json
    ./target/release/ctl --database-url mysql://… bench --fleet 32 --json > mariadb.json
    scripts/fleet-plot.py docs/fleet.svg SQLite=sqlite.json MariaDB=mariadb.json

Standard library only. Each input is one `ctl bench --fleet N --json` report.
"""

import json
import math
import sys
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 400
LEFT, RIGHT, TOP, BOTTOM = 70, 170, 40, 60
COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea"]


def main(argv):
    if len(argv) < 3 or any("=" not in a for a in argv[2:]):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out = argv[1]
    series = []
    for arg in argv[2:]:
        label, path = arg.split("=", 1)
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
        runs = [(r["lives"], r["p99_ms"], r["events_per_sec"]) for r in report["runs"]]
        series.append((label, runs, report.get("target_p99_ms", 100.0)))
    with open(out, "w", encoding="utf-8") as f:
        f.write(svg(series))
    return 0


def svg(series):
    max_lives = max(l for _, runs, _ in series for l, _, _ in runs)
    target = series[0][2]
    max_p99 = max([p for _, runs, _ in series for _, p, _ in runs] + [target * 1.5])
    top_ms = nice_ceiling(max_p99)
    x_max = 2 ** math.ceil(math.log2(max(max_lives, 2)))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(lives):
        return LEFT + plot_w * math.log2(lives) / math.log2(x_max)

    def y(ms):
        return TOP + plot_h * (1 - min(ms, top_ms) / top_ms)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="DejaVu Sans, sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="14" font-weight="bold">'
        "Fleet: lag p99 (worst LIVE) by simulated LIVEs at 100 msgs/s each</text>",
    ]
    for i in range(0, 5):
        ms = top_ms * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(ms):.1f}" y2="{y(ms):.1f}" stroke="#e5e7eb"/>'
            f'<text x="{LEFT - 8}" y="{y(ms) + 4:.1f}" text-anchor="end">{ms:.0f} ms</text>'
        )
    lives = 1
    while lives <= x_max:
        parts.append(
            f'<line x1="{x(lives):.1f}" x2="{x(lives):.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#f3f4f6"/>'
            f'<text x="{x(lives):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{lives}</text>'
        )
        lives *= 2
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 15}" text-anchor="middle">'
        "simulated LIVEs (each its own capture-daemon), one database</text>"
    )
    parts.append(
        f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(target):.1f}" y2="{y(target):.1f}" '
        f'stroke="#6b7280" stroke-dasharray="6 4"/>'
        f'<text x="{LEFT + plot_w - 4}" y="{y(target) - 6:.1f}" text-anchor="end" fill="#6b7280">'
        f"target {target:.0f} ms</text>"
    )
    for i, (label, runs, _) in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        points = " ".join(f"{x(l):.1f},{y(p):.1f}" for l, p, _ in runs)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        for l, p, _ in runs:
            parts.append(f'<circle cx="{x(l):.1f}" cy="{y(p):.1f}" r="4" fill="{colour}"/>')
        ly = TOP + 20 + 22 * i
        parts.append(
            f'<line x1="{WIDTH - RIGHT + 20}" x2="{WIDTH - RIGHT + 44}" y1="{ly}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2.5"/>'
            f'<text x="{WIDTH - RIGHT + 50}" y="{ly + 4}">{escape(label)}</text>'
        )
    parts.append("</svg>\n")
    return "\n".join(parts)


def nice_ceiling(v):
    for step in (50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if v <= step:
            return float(step)
    return float(math.ceil(v / 10000) * 10000)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
