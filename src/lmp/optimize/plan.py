"""`lmp optimize --plan`: what a run would cost, per phase, before any model call.

Derived from the optimizer's settings, the sizes of train and dev, and the program's predictors:
- calls per example = the module's predictor calls (one each; a ReAct step up to `max_iters` + 1) plus,
  for a metric of the program, its judge calls per scored row;
- each phase gets a range [min, max] of *paid* calls (the response cache can only lower them): exact
  where the optimizer's work is fixed (baseline, final, teacher traces of knn), a range where it stops
  early (the teacher stops once enough traces passed; a trial stops once it cannot beat the best; a
  candidate already scored on dev is not scored again);
- tokens are the rendered prompts of the program (chars / 4, with the demos each phase shows) and the
  gold outputs in the adapter's format, at the maximum number of calls: a rough figure (±50%);
- dollars from litellm's price table, read offline, for models it prices (local and fake models are free).

An optimizer may project its own phases with a `plan(sizes) -> list[PhasePlan]` method (GEPA does);
the others are described here, next to the code paths in optimizers/*.py whose calls they count.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from lmp.optimize.costs import LABELS, PHASES
from lmp.runtime.token_count import CHARS_PER_TOKEN  # the same estimate as the preview's


@dataclass
class PhasePlan:
    phase: str
    calls_min: int
    calls_max: int
    note: str = ""
    role: str = "task"  # "task" (the program's model) or "prompt" (the prompt model)
    prompt_tokens: int = 0  # at calls_max
    completion_tokens: int = 0
    usd: float | None = None  # None: the model is not priced

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Sizes:
    """What a projection needs to know about the run."""

    train: int
    dev: int  # the selection/evaluation set (train when no dev is given)
    per_example: int  # predictor calls of one program run
    metric_calls: int  # judge calls per scored row (0 for built-in metrics)
    predictors: int  # tunable predictors
    settings: dict[str, Any]
    evaluate_dev: bool = True
    budget: int | None = None

    @property
    def per_row(self) -> int:
        return self.per_example + self.metric_calls


@dataclass
class Plan:
    optimizer: str
    sizes: Sizes
    phases: list[PhasePlan]
    models: dict[str, str | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def total(self) -> dict[str, Any]:
        priced = [p.usd for p in self.phases if p.calls_max]
        return {"calls_min": sum(p.calls_min for p in self.phases), "calls_max": sum(p.calls_max for p in self.phases),
                "prompt_tokens": sum(p.prompt_tokens for p in self.phases),
                "completion_tokens": sum(p.completion_tokens for p in self.phases),
                "usd": None if any(u is None for u in priced) else round(sum(u or 0.0 for u in priced), 6)}

    def to_json(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "sizes": asdict(self.sizes), "models": self.models,
                "phases": [asdict(p) for p in self.phases], "total": self.total(), "notes": self.notes}

    def format(self) -> str:
        s = self.sizes
        lines = [f"plan: {self.optimizer} on {s.train} train / {s.dev} dev rows; {s.per_example} predictor call(s) "
                 f"per example" + (f" + {s.metric_calls} metric call(s) per scored row" if s.metric_calls else "")
                 + f"; task model {self.models.get('task') or '-'}"
                 + (f", prompt model {self.models['prompt']}" if self.models.get("prompt") else ""),
                 "", f"{'phase':<22} {'calls':>13} {'tokens (max)':>13} {'cost $ (max)':>13}  notes"]
        for p in self.phases:
            calls = str(p.calls_max) if p.calls_min == p.calls_max else f"{p.calls_min}–{p.calls_max}"
            usd = "unpriced" if p.usd is None else f"{p.usd:.4f}"
            lines.append(f"{LABELS.get(p.phase, p.phase):<22} {calls:>13} {p.tokens:>13} {usd:>13}  {p.note}")
        t = self.total()
        calls = str(t["calls_max"]) if t["calls_min"] == t["calls_max"] else f"{t['calls_min']}–{t['calls_max']}"
        usd = "unpriced" if t["usd"] is None else f"{t['usd']:.4f}"
        lines += ["-" * 78, f"{'total':<22} {calls:>13} {t['prompt_tokens'] + t['completion_tokens']:>13} {usd:>13}"]
        lines += ["", "Calls are paid calls at most (cache hits are free); tokens are a rough estimate (±50%). "
                  "Nothing was sent to a model."]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# ------------------------------------------------------------------ per optimizer


def _teacher(s: Sizes, k: int, *, all_rows: bool = False) -> PhasePlan:
    if all_rows:
        return PhasePlan("bootstrap", s.train * s.per_row, s.train * s.per_row, "the teacher runs every training row")
    lo = min(k, s.train) * s.per_row
    return PhasePlan("bootstrap", lo, s.train * s.per_row,
                     f"the teacher stops once {k} traces pass the metric (min: the first {min(k, s.train)} pass)")


def _final(s: Sizes, reused: bool, members: int = 1) -> PhasePlan:
    full = s.dev * s.per_row * members
    if reused:
        return PhasePlan("final", 0, full, "free when the winner was already scored on all of dev")
    return PhasePlan("final", full, full)


def _final_scored(s: Sizes) -> PhasePlan:
    """The final evaluation after a search that scored candidates on rows dev may share (copro scores on
    train): a (candidate, row) pair scored before is not asked again."""
    return PhasePlan("final", 0, s.dev * s.per_row, "rows the winner already answered are free")


def _proposals(count: int, retries: int, note: str) -> PhasePlan:
    return PhasePlan("proposals", count, count * (retries + 1), note + f"; up to {retries} retries each when "
                     "a proposal is rejected", role="prompt")


def project(name: str, s: Sizes, optimizer: Any = None) -> list[PhasePlan]:
    """The compile phases of optimizer `name` (baseline and final are added by `make_plan`)."""
    st = s.settings
    if optimizer is not None and hasattr(optimizer, "plan"):
        return list(optimizer.plan(s))
    if name == "labeled":
        return [_final(s, False)]
    if name == "bootstrap":
        return [_teacher(s, int(st["max_bootstrapped_demos"])), _final(s, False)]
    if name == "knn":
        k = int(st["max_pool"]) if st.get("bootstrap", True) else 0
        phases = [_teacher(s, k, all_rows=k >= s.train)] if k else []
        return [*phases, _final(s, False)]
    if name in ("random-search", "ensemble"):
        if name == "ensemble" and st.get("members"):
            return [_final(s, False, len(st["members"]))]
        n = int(st["num_candidate_programs"])
        cands = n + 3 - (1 if s.evaluate_dev else 0)  # the zero-shot candidate is the baseline: scored once
        full = s.dev * s.per_row
        early = name == "random-search"
        trials = PhasePlan("trials", full if early else cands * full, cands * full,
                           f"{n + 3} candidates on {s.dev} dev rows"
                           + (", each stopped once it cannot beat the best" if early else ""))
        members = int(st.get("size", 3)) if name == "ensemble" else 1
        return [_teacher(s, int(st["max_bootstrapped_demos"])), trials, _final(s, name == "random-search", members)]
    if name == "copro":
        breadth, depth = int(st["breadth"]), int(st["depth"])
        props = s.predictors * ((breadth - 1) + (depth - 1) * breadth)
        cands = s.predictors * breadth * depth
        full = s.train * s.per_row
        return [_proposals(props, 2, f"{breadth - 1} + {depth - 1}×{breadth} per predictor"),
                PhasePlan("trials", full, cands * full,
                          f"up to {cands} instructions on {s.train} train rows, stopped once they cannot win"),
                _final_scored(s)]
    if name == "mipro":
        from lmp.optimize.optimizers.mipro import PRESETS

        preset = PRESETS.get(str(st["auto"]), PRESETS["light"])
        n_cand = int(st["num_candidates"] or preset["num_candidates"])
        val = min(s.dev, int(st["val_size"] or preset["val_size"]))
        n_trials = int(st["num_trials"] or max(2 * (2 * s.predictors) * math.log2(max(n_cand, 2)), 1.5 * n_cand))
        mb = int(st["minibatch_size"])
        every = int(st["minibatch_full_eval_steps"])
        if val > mb:
            fulls = math.ceil(n_trials / every)
            hi = (n_trials * mb + fulls * val) * s.per_row
            note = f"{n_trials} minibatch trials of {mb} rows + {fulls} full evaluations of {val}"
        else:
            hi = n_trials * val * s.per_row
            note = f"{n_trials} trials on all {val} rows (repeated configurations and hopeless rows are free)"
        return [_teacher(s, int(st["max_bootstrapped_demos"])),
                _proposals(s.predictors * (n_cand - 1), 2, f"{n_cand - 1} per predictor"),
                PhasePlan("trials", min(hi, val * s.per_row), hi, note), _final_scored(s)]
    return []


# ------------------------------------------------------------------ tokens and prices


def _render_chars(handle: Any, pid: str, inputs: dict[str, Any], demos: list[dict[str, Any]]) -> int:
    p = handle.interpreter.predictors[pid]
    sig = p.effective_signature()
    values = {f.name: inputs.get(f.name, "…") for f in sig.inputs}
    saved = p.demos
    try:
        p.demos = demos
        return sum(len(m["content"]) if isinstance(m.get("content"), str) else 200 for m in p.render(values))
    except Exception:  # noqa: BLE001 - an estimate: fall back to the raw sizes
        return len(json.dumps(values, default=str)) + 400
    finally:
        p.demos = saved


def _demos(examples: list[Any], k: int) -> list[dict[str, Any]]:
    return [{"inputs": dict(ex.inputs), "outputs": dict(ex.gold), "augmented": False} for ex in examples[:k]]


def price(model: str | None, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Dollars from litellm's bundled price table (no network); 0 for local/fake models, None if unpriced."""
    if not model:
        return None
    if model in ("local", "local-text", "fake") or model.startswith("fake:"):
        return 0.0
    if prompt_tokens == 0 and completion_tokens == 0:
        return 0.0
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # the bundled table, never a download
    try:
        import litellm

        litellm.suppress_debug_info = True  # no "Provider List" banner for an unknown model
        p, c = litellm.cost_per_token(model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        return round(float(p + c), 6)
    except Exception:  # noqa: BLE001 - an unknown model is unpriced, not an error
        return None


def make_plan(handle: Any, module: str, optimizer: str, settings: dict[str, Any] | None, trainset: list[Any],
              devset: list[Any] | None, *, metric: Any = None, prompt_model: str | None = None,
              budget: int | None = None, evaluate_dev: bool = True) -> Plan:
    from lmp.optimize.optimizers import get_optimizer
    from lmp.runtime import settings as rt_settings

    opt = get_optimizer(optimizer, **(settings or {}))
    program = handle.program
    mod = program.modules[module]
    dev = devset or trainset
    per_example = 0
    for p in mod.predictors:
        per_example += _calls_of(p)
    metric_calls = 0
    mdecl = program.modules.get(getattr(metric, "name", "") or "")
    if mdecl is not None and mdecl.is_metric:
        metric_calls = sum(_calls_of(p) for p in mdecl.predictors)
    tunable = [p.id for p in mod.predictors if p.id in handle.interpreter.predictors]
    sizes = Sizes(len(trainset), len(dev), max(per_example, 1), metric_calls, max(len(tunable), 1),
                  json.loads(json.dumps(opt.settings, default=str)), evaluate_dev, budget)
    compile_phases = project(opt.name, sizes, opt)
    phases = ([PhasePlan("baseline", sizes.dev * sizes.per_row, sizes.dev * sizes.per_row,
                         "the program as written on dev")] if evaluate_dev else [])
    phases += [p for p in compile_phases if p.phase != "final" or evaluate_dev]
    # Run order, whatever order an optimizer's own projection lists them in.
    phases.sort(key=lambda p: PHASES.index(p.phase) if p.phase in PHASES else len(PHASES))
    notes: list[str] = []
    if not compile_phases:
        notes.append(f"no projection is known for optimizer `{opt.name}`: only the evaluations are counted")
    if budget is not None:
        for p in phases:
            if p.phase not in ("baseline", "final") and p.calls_max > budget:
                p.calls_max = budget
                p.calls_min = min(p.calls_min, budget)
                p.note += f" (capped by --budget {budget})"
        notes.append(f"--budget {budget}: the search stops at {budget} paid calls (the final evaluation is extra)")
    if any(_calls_of(p) > 1 for p in mod.predictors):
        notes.append("a ReAct step counts up to max_iters + 1 calls per example")

    # Tokens: the rendered prompt of every predictor for a typical row, with the demos the phase shows.
    sample = dev[0] if dev else trainset[0]
    demo_k = {"baseline": 0, "final": _final_demos(opt.name, sizes.settings, len(trainset)),
              "bootstrap": min(int(sizes.settings.get("max_labeled_demos", 16)), len(trainset) - 1),
              "trials": _final_demos(opt.name, sizes.settings, len(trainset))}
    out_chars = len(json.dumps(sample.gold, default=str)) + 40 * max(len(sample.gold), 1)
    task_model = _model_id(rt_settings, program, None)
    prompt_id = _model_id(rt_settings, program, prompt_model) if prompt_model else task_model
    for ph in phases:
        calls = ph.calls_max
        if ph.role == "prompt":
            per_call = 1200  # the proposer's prompt: task, examples, attempts
            ph.prompt_tokens = calls * per_call // CHARS_PER_TOKEN
            ph.completion_tokens = calls * 60
            ph.usd = price(prompt_id, ph.prompt_tokens, ph.completion_tokens)
            continue
        chars = sum(_render_chars(handle, pid, dict(sample.inputs), _demos(trainset, demo_k.get(ph.phase, 0)))
                    for pid in tunable) / max(len(tunable), 1)
        ph.prompt_tokens = int(calls * chars / CHARS_PER_TOKEN)
        ph.completion_tokens = int(calls * out_chars / CHARS_PER_TOKEN)
        ph.usd = price(task_model, ph.prompt_tokens, ph.completion_tokens)
    return Plan(opt.name, sizes, phases, {"task": task_model, "prompt": prompt_id if prompt_model else None}, notes)


def _final_demos(name: str, st: dict[str, Any], n_train: int) -> int:
    if name in ("bootstrap", "random-search", "ensemble"):
        return min(int(st.get("max_bootstrapped_demos", 4)) + int(st.get("max_labeled_demos", 16)), n_train)
    if name == "mipro":
        return min(int(st.get("max_bootstrapped_demos", 4)) + int(st.get("max_labeled_demos", 4)), n_train)
    if name == "labeled":
        return min(int(st.get("k", 16)), n_train)
    if name == "knn":
        return int(st.get("k", 3))
    return 0


def _calls_of(p: Any) -> int:
    if p.kind == "ReAct":
        opts = {kw.name: getattr(kw.value, "value", None) for kw in p.options}
        iters = opts.get("max_iters")
        return (int(iters) if isinstance(iters, int) else 5) + 1
    if p.kind in ("BestOfN", "Refine"):
        opts = {kw.name: getattr(kw.value, "value", None) for kw in p.options}
        n = opts.get("n") or opts.get("N")
        return int(n) if isinstance(n, int) else 3
    return 1


def _model_id(rt_settings: Any, program: Any, role_or_model: str | None) -> str | None:
    cur = rt_settings.current()
    role = role_or_model or "default"
    if role in cur.lms:
        return getattr(cur.lms[role], "model", None)
    if role_or_model is None and cur.lm is not None and "default" not in cur.overrides():
        return getattr(cur.lm, "model", None)
    if role_or_model and role_or_model not in (program.models or {}) and role_or_model not in cur.overrides() \
            and ("/" in role_or_model or role_or_model in ("local", "local-text") or ":" in role_or_model):
        return role_or_model
    try:
        return rt_settings.model_for(program, role)[0]
    except Exception:  # noqa: BLE001 - a label only
        return None
