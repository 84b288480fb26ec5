#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scaling curve of bench/diagnose.sh: wall time against the number of hosts, both on log scales, one line per
way of diagnosing (per host, from the controller, the naive playbook), as a self-contained SVG.

    .venv/bin/python bench/plot_scaling.py bench/.results/diagnose.tsv docs/images/diagnose-scaling.svg

The TSV: one line per N, "N <tab> per host s <tab> controller s <tab> naive s" (naive empty past 100 hosts).
"""

from __future__ import annotations

import math
import os
import sys

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 640, 400, 70, 170, 30, 50
SERIES = (("per host (the default)", 1, "#1f6feb"), ("controller", 2, "#2da44e"), ("naive playbook", 3, "#cf222e"))


def read(path):
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if fields and fields[0]:
                rows.append([float(f) if f else None for f in fields])
    if not rows:
        raise SystemExit("plot_scaling: no figures in %s" % path)
    return rows


def decades(low, high):
    return [10 ** e for e in range(int(math.floor(math.log10(low))), int(math.ceil(math.log10(high))) + 1)]


def svg(rows):
    ns = [row[0] for row in rows]
    times = [t for row in rows for t in row[1:] if t]
    xs, ys = decades(min(ns), max(ns)), decades(min(times), max(times))

    def x(n):
        return LEFT + (math.log10(n) - math.log10(xs[0])) / (math.log10(xs[-1]) - math.log10(xs[0]) or 1) * (WIDTH - LEFT - RIGHT)

    def y(t):
        return HEIGHT - BOTTOM - (math.log10(t) - math.log10(ys[0])) / (math.log10(ys[-1]) - math.log10(ys[0]) or 1) * (HEIGHT - TOP - BOTTOM)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" '
           'font-size="12">' % (WIDTH, HEIGHT, WIDTH, HEIGHT),
           '<title>diagnose.yml: wall time against hosts (bench/diagnose.sh)</title>',
           '<rect width="100%" height="100%" fill="white"/>']
    for n in xs:
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (x(n), TOP, x(n), HEIGHT - BOTTOM))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x(n), HEIGHT - BOTTOM + 16, "{:,}".format(int(n))))
    for t in ys:
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (LEFT, y(t), WIDTH - RIGHT, y(t)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s s</text>' % (LEFT - 6, y(t) + 4, ("%g" % t)))
    out.append('<text x="%d" y="%d" text-anchor="middle">hosts</text>' % ((LEFT + WIDTH - RIGHT) // 2, HEIGHT - 12))
    out.append('<text x="16" y="%d" text-anchor="middle" transform="rotate(-90 16 %d)">wall time</text>'
               % ((TOP + HEIGHT - BOTTOM) // 2, (TOP + HEIGHT - BOTTOM) // 2))
    for number, (label, column, colour) in enumerate(SERIES):
        points = [(x(row[0]), y(row[column])) for row in rows if len(row) > column and row[column]]
        if not points:
            continue
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                   % (colour, " ".join("%.1f,%.1f" % p for p in points)))
        out.extend('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (px, py, colour) for px, py in points)
        ly = TOP + 10 + 20 * number
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>' % (WIDTH - RIGHT + 12, ly, WIDTH - RIGHT + 32, ly, colour))
        out.append('<text x="%d" y="%d">%s</text>' % (WIDTH - RIGHT + 38, ly + 4, label))
    out.append('</svg>')
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) != 3:
        raise SystemExit(__doc__)
    text = svg(read(argv[1]))
    os.makedirs(os.path.dirname(os.path.abspath(argv[2])), exist_ok=True)
    with open(argv[2], "w", encoding="utf-8") as handle:
        handle.write(text)
    print("plot_scaling: %s" % argv[2])


if __name__ == "__main__":
    main(sys.argv)
