"""Results → results.json and a Markdown table (also printed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.core import CaseResult


def _num(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.3f} s"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    return f"{value:.2f}{unit}"


def markdown(meta: dict[str, Any], results: list[CaseResult]) -> str:
    out = ["# overlayc bench results", ""]
    out.append(", ".join(f"{k}: {v}" for k, v in meta.items()))
    out.append("")
    out += ["| case | figure | median | min | max | runs | CPU median | note |",
            "|---|---|---|---|---|---|---|---|"]
    for r in results:
        for name, f in r.figures.items():
            if name.endswith(" CPU") and name.removesuffix(" CPU") in r.figures:
                continue  # shown in the CPU column of its wall-clock twin
            cpu = r.figures.get(f"{name} CPU")
            out.append(f"| {r.name} | {name} | {_num(f.median, f.unit)} | {_num(min(f.runs), f.unit)} | "
                       f"{_num(max(f.runs), f.unit)} | {len(f.runs)} | "
                       f"{_num(cpu.median, cpu.unit) if cpu else ''} | {f.note} |")
    out += ["", "| case | ratio (of medians) | value |", "|---|---|---|"]
    for r in results:
        for name, v in r.ratios.items():
            out.append(f"| {r.name} | {name} | {v:.2f} |")
    out += ["", "| target | value | limit | result |", "|---|---|---|---|"]
    for r in results:
        for t in r.targets:
            out.append(f"| {t.name} | {_num(t.value, t.unit)} | {_num(t.limit, t.unit)} | "
                       f"{'pass' if t.passed else '**miss**'} |")
    notes = [f"- {r.name}: {n}" for r in results for n in r.notes]
    if notes:
        out += ["", "Notes:", "", *notes]
    return "\n".join(out) + "\n"


def write(meta: dict[str, Any], results: list[CaseResult], json_path: Path, md_path: Path) -> str:
    doc = {"meta": meta, "cases": {r.name: r.to_json() for r in results}}
    json_path.write_text(json.dumps(doc, indent=2) + "\n")
    text = markdown(meta, results)
    md_path.write_text(text)
    return text
