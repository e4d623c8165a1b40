"""`lmp optimize --report report.html`: the trajectory of a run as one self-contained HTML page and the
same data as JSON beside it (`report.json`).

The page shows the dev score per trial (with the best so far, the baseline and the final score), the
candidates of a run that has a lineage (GEPA: parent -> child edges, the Pareto frontier, the chosen
path), the cost per phase (paid and cached calls, tokens, dollars, time), the proposals that were
rejected and why, and per predictor the instruction diff between the program as written and the chosen
candidate.

Plots are inline SVG drawn by matplotlib (the `report` extra: `pip install 'lmp[report]'`), imported
only here and only when a report is written, with the non-interactive Agg backend: no display, no
network, no fonts to fetch. Without matplotlib the page is written with the same tables and no plots,
and says how to get them; the JSON is the same either way.
"""

from __future__ import annotations

import difflib
import html
import io
import json
import os
import time
from pathlib import Path
from typing import Any

from lmp.optimize.costs import LABELS, total

SPARK = "▁▂▃▄▅▆▇█"


# ------------------------------------------------------------------ data


def report_data(res: Any, *, handle: Any, module: str, optimizer: str, metric: str,
                settings: dict[str, Any] | None = None, proposals: list[dict[str, Any]] | None = None,
                state_path: str | None = None) -> dict[str, Any]:
    """Everything the page shows, as plain JSON (what `report.json` holds)."""
    from lmp import __version__

    state = res.state
    trials = [_trial(t) for t in (res.trials or [])]
    diffs = []
    for pid in sorted(set(state.predictors) | set(_tunable(handle, module))):
        p = handle.interpreter.predictors.get(pid)
        if p is None:
            continue
        base = p.instructions if p.instructions is not None else p.signature.effective_instructions()
        ps = state.predictors.get(pid)
        after = ps.instructions if ps is not None and ps.instructions is not None else base
        diffs.append({"predictor": pid, "before": base, "after": after, "changed": after != base,
                      "words": word_diff(base, after), "demos_before": len(p.demos),
                      "demos_after": len(ps.demos) if ps is not None else len(p.demos),
                      "bootstrapped_after": sum(1 for d in (ps.demos if ps else []) if d.get("augmented"))})
    phases = res.phases or {}
    props = list(proposals or [])
    return {
        "lmp_version": __version__, "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "program": getattr(handle.program, "path", None), "module": module, "optimizer": optimizer,
        "settings": json.loads(json.dumps(settings if settings is not None else state.settings, default=str)),
        "metric": metric, "state": state_path, "task_model": state.task_model, "prompt_model": state.prompt_model,
        "scores": {"dev_before": res.before, "dev_after": res.after,
                   "ci_before": list(res.before_eval.ci) if res.before_eval is not None else None,
                   "ci_after": list(res.after_eval.ci) if res.after_eval is not None else None,
                   **{k: v for k, v in state.scores.items() if k not in ("dev_before", "dev_after")}},
        "trials": trials,
        "lineage": getattr(state, "lineage", None),
        "phases": phases, "total": total(phases) if phases else None,
        "proposals": {"count": len(props), "accepted": sum(1 for e in props if e.get("ok")),
                      "rejected": [e for e in props if not e.get("ok")], "all": props},
        "instructions": diffs,
    }


def _trial(t: Any) -> dict[str, Any]:
    return {"trial": t.trial, "total": t.total, "score": t.score, "best": t.best, "paid": t.paid,
            "cached": t.cached, "calls_so_far": t.calls, "note": t.note, "resumed": t.resumed,
            "partial": t.partial, "upper": t.upper, "minibatch": t.minibatch, "candidate": t.candidate}


def _tunable(handle: Any, module: str) -> list[str]:
    mod = handle.program.modules.get(module)
    return [p.id for p in mod.predictors] if mod is not None else []


def word_diff(a: str, b: str) -> list[list[str]]:
    """[[op, text], ...] with op "=", "-", "+": the word-level changes from `a` to `b`."""
    wa, wb = a.split(" "), b.split(" ")
    out: list[list[str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=wa, b=wb, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(["=", " ".join(wa[i1:i2])])
            continue
        if i2 > i1:
            out.append(["-", " ".join(wa[i1:i2])])
        if j2 > j1:
            out.append(["+", " ".join(wb[j1:j2])])
    return out


# ------------------------------------------------------------------ terminal


def sparkline(values: list[float | None]) -> str:
    nums = [v for v in values if v is not None]
    if not nums:
        return ""
    lo, hi = min(nums), max(nums)
    span = hi - lo or 1.0
    return "".join("·" if v is None else SPARK[min(7, int((v - lo) / span * 7.999))] for v in values)


def summary(data: dict[str, Any]) -> str:
    """A few lines for the terminal, printed after every run: the trajectory, candidates, proposals."""
    lines = []
    trials = data["trials"]
    if trials:
        scored = [t for t in trials if t["score"] is not None]
        best = max(scored, key=lambda t: t["score"]) if scored else None
        lines.append(f"trajectory: {len(trials)} trial(s) {sparkline([t['score'] for t in trials])}"
                     + (f" · best {best['score']:.3f} at trial {best['trial']}" if best else "")
                     + f" · {sum(t['paid'] for t in trials)} calls paid, {sum(t['cached'] for t in trials)} cached")
    lin = data.get("lineage")
    if lin:
        lines.append(f"candidates: {len(lin['candidates'])} · Pareto frontier {lin['frontier']} · chosen "
                     f"{lin['chosen']} (path {' -> '.join(map(str, lin['path']))})")
    pr = data["proposals"]
    if pr["count"]:
        lines.append(f"proposals: {pr['count']} proposed, {pr['accepted']} accepted, {len(pr['rejected'])} rejected")
    changed = [d["predictor"] for d in data["instructions"] if d["changed"]]
    if changed:
        lines.append("instructions changed: " + ", ".join(changed))
    return "\n".join(lines)


# ------------------------------------------------------------------ plots


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: the SVG goes inline


def plot_trials(plt: Any, data: dict[str, Any]) -> str | None:
    trials = data["trials"]
    if not trials:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.4))
    full = [t for t in trials if t["score"] is not None and not t["minibatch"]]
    mini = [t for t in trials if t["score"] is not None and t["minibatch"]]
    stopped = [t for t in trials if t["partial"] and t["upper"] is not None]
    if full:
        ax.scatter([t["trial"] for t in full], [t["score"] for t in full], color="#1f77b4", zorder=3, label="trial (dev)")
    if mini:
        ax.scatter([t["trial"] for t in mini], [t["score"] for t in mini], color="#9ecae1", marker="s", zorder=3,
                   label="trial (minibatch)")
    if stopped:
        ax.scatter([t["trial"] for t in stopped], [t["upper"] for t in stopped], facecolors="none",
                   edgecolors="#888", zorder=3, label="stopped early (at most)")
    best = [(t["trial"], t["best"]) for t in trials if t["best"] is not None]
    if best:
        ax.step([b[0] for b in best], [b[1] for b in best], where="post", color="#2ca02c", label="best so far")
    s = data["scores"]
    if s.get("dev_before") is not None:
        ax.axhline(s["dev_before"], color="#d62728", linestyle="--", linewidth=1, label="dev before")
    if s.get("dev_after") is not None:
        ax.axhline(s["dev_after"], color="#2ca02c", linestyle=":", linewidth=1, label="dev after")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(data["metric"])
    ax.set_title("Dev score per trial")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    out = _svg(fig)
    plt.close(fig)
    return out


def plot_lineage(plt: Any, data: dict[str, Any]) -> str | None:
    lin = data.get("lineage")
    if not lin or not lin.get("candidates"):
        return None
    cands = {c["id"]: c for c in lin["candidates"]}
    fig, ax = plt.subplots(figsize=(8, 3.4))
    for c in cands.values():
        for p in c.get("parents") or []:
            if p in cands:
                on_path = c["id"] in lin["path"] and p in lin["path"]
                ax.plot([p, c["id"]], [cands[p]["dev_score"], c["dev_score"]], color="#2ca02c" if on_path else "#bbb",
                        linewidth=2 if on_path else 1, zorder=1)
    front = set(lin.get("frontier") or [])
    others = [c for c in cands.values() if c["id"] not in front]
    ax.scatter([c["id"] for c in others], [c["dev_score"] for c in others], color="#999", zorder=2,
               label="candidate")
    fr = [c for c in cands.values() if c["id"] in front]
    ax.scatter([c["id"] for c in fr], [c["dev_score"] for c in fr], color="#ff7f0e", s=60, zorder=3,
               label="Pareto frontier (best on some dev row)")
    chosen = cands.get(lin.get("chosen"))
    if chosen is not None:
        ax.scatter([chosen["id"]], [chosen["dev_score"]], marker="*", s=220, color="#2ca02c", zorder=4,
                   label="chosen")
    for c in cands.values():
        ax.annotate(f"{c['id']}{'m' if c.get('origin') == 'merge' else ''}", (c["id"], c["dev_score"]),
                    textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("candidate (in the order found; m = merge)")
    ax.set_ylabel(f"dev {data['metric']}")
    ax.set_title("Candidates, lineage and Pareto frontier")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    out = _svg(fig)
    plt.close(fig)
    return out


def plot_costs(plt: Any, data: dict[str, Any]) -> str | None:
    phases = data["phases"]
    if not phases:
        return None
    names = list(phases)
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(names)))
    y = list(range(len(names)))
    paid = [phases[n]["calls"] for n in names]
    cached = [phases[n]["cached_calls"] for n in names]
    ax.barh(y, paid, color="#1f77b4", label="calls paid")
    ax.barh(y, cached, left=paid, color="#c6dbef", label="served from the cache")
    ax.set_yticks(y, [LABELS.get(n, n) for n in names])
    ax.invert_yaxis()
    ax.set_xlabel("LM calls")
    ax.set_title("Cost per phase")
    ax.legend(fontsize=8, loc="best")
    out = _svg(fig)
    plt.close(fig)
    return out


# ------------------------------------------------------------------ html


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _f(x: Any) -> str:
    return "–" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
td.l,th.l{text-align:left}.meta{color:#555;font-size:13px}.diff{font-family:ui-monospace,monospace;font-size:13px;
background:#fafafa;border:1px solid #ddd;padding:8px;white-space:pre-wrap}del{background:#fdd;color:#900}
ins{background:#dfd;color:#060;text-decoration:none}.note{background:#fff8e0;border:1px solid #eed;padding:8px}
.kpi{display:inline-block;margin-right:28px}.kpi b{font-size:22px;display:block}svg{max-width:100%;height:auto}"""


def render_html(data: dict[str, Any], plots: dict[str, str | None] | None) -> str:
    s = data["scores"]
    t = data.get("total") or {}
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>lmp optimize report: {_e(data['module'])}"
             f"</title><style>{CSS}</style></head><body>",
             f"<h1>lmp optimize · {_e(data['optimizer'])} · {_e(data['module'])}</h1>",
             f"<p class='meta'>{_e(data['program'])} · metric {_e(data['metric'])} · task model "
             f"{_e(data['task_model'])}" + (f" · prompt model {_e(data['prompt_model'])}" if data["prompt_model"] else "")
             + f" · {_e(data['created'])} · lmp {_e(data['lmp_version'])}</p>"]

    def ci(key: str) -> str:
        v = s.get(key)
        return f" <small>(95% CI {v[0]:.2f}–{v[1]:.2f})</small>" if v else ""

    parts.append(f"<div><span class='kpi'>dev before<b>{_f(s.get('dev_before'))}</b>{ci('ci_before')}</span>"
                 f"<span class='kpi'>dev after<b>{_f(s.get('dev_after'))}</b>{ci('ci_after')}</span>"
                 f"<span class='kpi'>calls paid<b>{t.get('calls', '–')}</b>+{t.get('cached_calls', 0)} cached</span>"
                 f"<span class='kpi'>tokens<b>{t.get('tokens', '–')}</b></span>"
                 f"<span class='kpi'>cost<b>${t.get('cost', 0.0):.4f}</b></span></div>")
    if plots is None:
        parts.append("<p class='note'>Plots are not drawn: matplotlib is not installed. "
                     "<code>pip install 'lmp[report]'</code> and rerun the same command (finished work is cached) "
                     "to get them. The tables below hold the same data.</p>")
    plots = plots or {}

    parts.append("<h2>Dev score per trial</h2>")
    if plots.get("trials"):
        parts.append(plots["trials"])
    if data["trials"]:
        rows = "".join(
            f"<tr><td>{x['trial']}</td><td>{_f(x['score']) if x['score'] is not None else 'stopped (≤ ' + _f(x['upper']) + ')'}"
            f"</td><td>{_f(x['best'])}</td><td>{x['paid']}</td><td>{x['cached']}</td>"
            f"<td class='l'>{'minibatch' if x['minibatch'] else 'dev'}</td><td class='l'>{_e(x['note'])}"
            f"{' (from checkpoint)' if x['resumed'] else ''}</td></tr>" for x in data["trials"])
        parts.append("<table><tr><th>trial</th><th>score</th><th>best</th><th>paid</th><th>cached</th>"
                     f"<th class='l'>on</th><th class='l'>note</th></tr>{rows}</table>")
    else:
        parts.append("<p>This optimizer runs no trials (it builds one candidate).</p>")

    lin = data.get("lineage")
    if lin:
        parts.append("<h2>Candidates and the Pareto frontier</h2>")
        if plots.get("lineage"):
            parts.append(plots["lineage"])
        rows = "".join(
            f"<tr><td>{c['id']}{' ★' if c['id'] == lin['chosen'] else ''}</td><td class='l'>{_e(c.get('origin'))}</td>"
            f"<td>{_e(', '.join(map(str, c.get('parents') or [])))}</td><td class='l'>{_e(c.get('predictor'))}</td>"
            f"<td>{_f(c.get('dev_score'))}</td><td>{c.get('frontier_wins', 0)}</td>"
            f"<td class='l'>{_e(' / '.join(c.get('feedback') or [])[:300])}</td></tr>" for c in lin["candidates"])
        parts.append("<table><tr><th>id</th><th class='l'>origin</th><th>parents</th><th class='l'>predictor</th>"
                     f"<th>dev</th><th>frontier wins</th><th class='l'>feedback</th></tr>{rows}</table>")

    parts.append("<h2>Cost per phase</h2>")
    if plots.get("costs"):
        parts.append(plots["costs"])
    if data["phases"]:
        rows = "".join(f"<tr><td class='l'>{_e(LABELS.get(n, n))}</td><td>{p['calls']}</td><td>{p['cached_calls']}</td>"
                       f"<td>{p['tokens']}</td><td>{p['cost']:.4f}</td><td>{p['seconds']:.1f}</td></tr>"
                       for n, p in [*data["phases"].items(), ("total", t)])
        parts.append("<table><tr><th class='l'>phase</th><th>calls paid</th><th>cached</th><th>tokens</th>"
                     f"<th>cost $</th><th>seconds</th></tr>{rows}</table>")

    pr = data["proposals"]
    if pr["count"]:
        parts.append(f"<h2>Proposals</h2><p>{pr['count']} proposed, {pr['accepted']} accepted, "
                     f"{len(pr['rejected'])} rejected.</p>")
        shown = pr.get("all") or pr["rejected"]
        rows = "".join(f"<tr><td class='l'>{_e(e.get('predictor'))}</td><td class='l'>"
                       + ("accepted" if e.get("ok") else "rejected: " + _e(e.get("reason"))
                          + ((' (' + _e(e['detail']) + ')') if e.get('detail') else ''))
                       + f"</td><td class='l'>{_e((e.get('text') or '(no parsable answer)')[:200])}</td></tr>"
                       for e in shown)
        parts.append(f"<table><tr><th class='l'>predictor</th><th class='l'>verdict</th>"
                     f"<th class='l'>text</th></tr>{rows}</table>")

    parts.append("<h2>Instructions: the program as written → the chosen candidate</h2>")
    for d in data["instructions"]:
        body = "".join(_e(x) + " " if op == "=" else f"<{'del' if op == '-' else 'ins'}>{_e(x)}</{'del' if op == '-' else 'ins'}> "
                       for op, x in d["words"])
        demos = (f"demos {d['demos_before']} → {d['demos_after']}"
                 + (f" ({d['bootstrapped_after']} bootstrapped)" if d["bootstrapped_after"] else ""))
        parts.append(f"<h3>{_e(d['predictor'])} <small>· {'changed' if d['changed'] else 'unchanged'} · "
                     f"{demos}</small></h3><div class='diff'>{body}</div>")
    parts.append("<p class='meta'>The same data: the JSON file beside this page.</p></body></html>")
    return "\n".join(parts)


def report_paths(path: str) -> tuple[str, str]:
    """`report.html` -> (report.html, report.json); any other name gets both suffixes."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix.lower() in (".html", ".htm", ".json") else p
    html_path = str(p) if p.suffix.lower() in (".html", ".htm") else str(stem) + ".html"
    return html_path, str(stem) + ".json"


def write_report(data: dict[str, Any], path: str) -> tuple[str, str, bool]:
    """Write the page and the JSON; returns (html path, json path, whether plots were drawn)."""
    from lmp.secrets import scrub_data

    data = scrub_data(data)  # instructions and feedback quote model answers, which may repeat a key
    html_path, json_path = report_paths(path)
    plt = _matplotlib()
    plots = None
    if plt is not None:
        plots = {"trials": plot_trials(plt, data), "lineage": plot_lineage(plt, data), "costs": plot_costs(plt, data)}
    os.makedirs(os.path.dirname(os.path.abspath(html_path)) or ".", exist_ok=True)
    Path(json_path).write_text(json.dumps(data, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    Path(html_path).write_text(render_html(data, plots), encoding="utf-8")
    return html_path, json_path, plots is not None
