"""Draws bench/debezium.ts's chart: throughput and CPU, sluice beside Debezium, side by side.

Usage (through bench/chart.sh, which provides matplotlib): chart.py <results.json> <out.png>
The JSON's "chart" holds {"throughput": [{measure, sluice, debezium}], "cpu": [...]}.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"sluice": "#2b7bba", "Debezium": "#e07b39"}


def bars(ax, items, title, unit):
    labels = [i["measure"].replace(" → ", "\n→ ").replace(", ", "\n") for i in items]
    xs = range(len(items))
    width = 0.38
    for k, (name, key) in enumerate((("sluice", "sluice"), ("Debezium", "debezium"))):
        raw = [i[key] for i in items]
        values = [v or 0 for v in raw]
        pos = [x + (k - 0.5) * width for x in xs]
        drawn = ax.bar(pos, values, width, label=name, color=COLORS[name])
        text = ["not\nmeasured" if v is None else f"{v:,.0f}" if v >= 100 else f"{v:.1f}" for v in raw]
        ax.bar_label(drawn, labels=text, fontsize=8, padding=2)
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_title(title, fontsize=11)
    ax.set_ylabel(unit)
    ax.margins(y=0.15)
    ax.legend(fontsize=9)
    ax.grid(axis="y", alpha=0.3)


def main():
    src, out = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        data = json.load(f)
    chart = data["chart"]
    p = data.get("params", {})
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [2, 1]})
    bars(left, chart["throughput"], "Throughput (higher is better)", "rows or events per second")
    bars(right, chart["cpu"], "CPU per 100k events (lower is better)", "CPU-seconds (user+sys)")
    fig.suptitle(
        f"sluice vs Debezium 3.6.1 on Kafka Connect: PostgreSQL → Kafka → {p.get('sink', 'MongoDB')}, "
        f"{p.get('ROWS', '?'):,} rows, {data['date'][:10]}, {data['machine']['cpus']} cores",
        fontsize=12,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
