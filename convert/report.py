"""The parity report as the terminal table (convert/parity.py writes the report, convert/gates.py the
model gate it carries)."""
from __future__ import annotations


def _gate_text(limits: dict) -> str:
    parts = [f"|dp|<={limits['max_abs_dprob']:g}"]
    if "top1_agreement" in limits:
        parts.append(f"top-1>={limits['top1_agreement']:.0%}")
    if "top1_agreement_faces" in limits:
        parts.append(f"top-1(faces)>={limits['top1_agreement_faces']:.0%}")
    if "max_abs_dembedding" in limits:
        parts.append(f"|de|<={limits['max_abs_dembedding']:g}")
    if "max_rel_dembedding" in limits:
        parts.append(f"|de|/max|e|<={limits['max_rel_dembedding']:g}")
    return ", ".join(parts)


def _embedding_text(r: dict) -> str:
    if "max_abs_dembedding" not in r:
        return "-"
    return f"{r['max_abs_dembedding']:.2e} ({r['max_rel_dembedding']:.1e} rel)"


def _faces_text(inp: dict) -> str:
    src = inp["source"]
    if src.get("faces") == "scikit-image":
        text = f"{src.get('count')} scikit-image probe faces"
        if src.get("fer"):
            text += f" + {src['fer']['count']} {src['fer']['split']} faces from {src['fer']['csv']} (gate only, not published)"
        return text
    if src.get("faces") == "real":  # folders made before the probe faces
        return f"{inp['faces']} real {src.get('split', '')} faces"
    return f"{inp['faces']} SYNTHETIC faces (no FER2013 data)"


def format_table(report: dict) -> str:
    inp = report["inputs"]
    lines = [f"Parity against PyTorch on {inp['count']} inputs ({_faces_text(inp)} + {inp['edge']} edge inputs)"
             + (f"; TF.js weights quantized to {report['quantization']}" if report.get("quantization") else ""),
             f"TF.js {report['tfjs_version']} backend: {report['tfjs_backend']} (Chromium {report['chromium']})"
             if report.get("tfjs_backend") else "TF.js: no result (see below)"]
    if report.get("embedding"):
        lines.append(f"embedding: output {report['embedding']['output']!r}, {report['embedding']['size']} values per face, "
                     "compared in every backend")
    emb = report.get("embedding")
    header = ("backend", "max|dprob|", "max|dlogprob|", "top-1 agree", *(("max|dembedding|",) if emb else ()), "gate",
              "result")
    rows = []
    for r in report["backends"].values():
        if "max_abs_dprob" in r:
            n = inp["count"]
            agree = f"{round(r['top1_agreement'] * n)}/{n} ({r['top1_agreement']:.1%})"
            rows.append((r["label"], f"{r['max_abs_dprob']:.2e}", f"{r['max_abs_dlogprob']:.2e}", agree,
                         *((_embedding_text(r),) if emb else ()), _gate_text(r["thresholds"]),
                         "PASS" if r["passed"] else "FAIL"))
        else:
            rows.append((r["label"], "-", "-", "-", *(("-",) if emb else ()), _gate_text(r["thresholds"]), "FAIL"))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = lambda row: "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    lines += [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)]
    for r in report["backends"].values():
        if r.get("error"):
            lines.append(f"  {r['label']}: {r['error']}")
        elif r.get("top1_disagreements"):
            lines.append(f"  {r['label']} top-1 differs on: {', '.join(r['top1_disagreements'][:5])}")
    lines += describe(report.get("model_gate") or {})
    man = report.get("manifest")
    if man:
        if report.get("manifest_error") is None:
            lines.append(f"manifest: all {man['checked']} files match manifest.json (sha256), none missing or extra")
        else:
            parts = [f"{what}: {', '.join(man[key])}" for key, what in
                     (("changed", "CHANGED since conversion"), ("missing", "MISSING"), ("extra", "EXTRA (not in the manifest)"),
                      ("symlinks", "SYMLINKS")) if man[key]]
            lines.append("manifest: " + "; ".join(parts or [report["manifest_error"]]))
    lines.append("PARITY GATE: PASSED" if report["passed"] else "PARITY GATE: FAILED")
    return "\n".join(lines)


def describe(gate: dict) -> list[str]:
    """Lines for the terminal table."""
    lines = []
    fp = gate.get("fingerprint") or {}
    if "error" in fp:
        lines.append(f"model gate: fingerprint FAIL: {fp['error']}")
    elif fp:
        lines.append(f"model gate: fingerprint on {fp['faces']} probe faces: median max|dlog p| "
                     f"{fp['median_max_abs_dlogp']:.2e} (<= {fp['tolerance']:g}), top-1 {fp['top1_agreement']:.1%} "
                     f"(>= {fp['min_top1']:.0%}): {'PASS' if fp['passed'] else 'FAIL'}")
    acc = gate.get("accuracy")
    if acc:
        lines.append(f"model gate: {acc['split']} accuracy ({acc['faces']} faces{', flip TTA' if acc['tta_flip'] else ''}) "
                     f"{acc['measured']:.4f} vs claimed {acc['claimed']:.4f} (±{acc['tolerance']:g}): "
                     f"{'PASS' if acc['passed'] else 'FAIL'}")
    elif gate:
        lines.append("model gate: no accuracy check (no FER data, or the checkpoint claims no PublicTest accuracy)")
    return lines
