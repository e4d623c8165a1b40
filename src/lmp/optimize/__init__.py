"""Evaluation, metrics, optimizers and state files (`lmp eval`, `lmp optimize`, `lmp diff-state`).

See docs/optimize.md. The public pieces:

- `lmp.optimize.data.load_dataset(path, module)` -> list[Example]
- `lmp.optimize.metrics.resolve_metric(spec, handle)` -> Metric
- `lmp.optimize.evaluate.evaluate(handle, module, examples, metric, ...)` -> EvalResult
- `lmp.optimize.state.load_state(path, program)` / `State.save(path)`
- `lmp.optimize.optimizers.get_optimizer(name, **settings)`; `optimizer.compile(handle, trainset, metric, devset)`
- `lmp.optimize.run.optimize(...)`: compile + before/after on dev + checkpoints + state file
"""
