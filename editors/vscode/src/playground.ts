// The playground: "▶ Run" on a module, signature, `example` or `test` block goes through the language
// server (`lmp/run`, with work-done progress and cancellation), and the results are shown in the preview
// panel next to the prompt: typed outputs, tokens, latency, cost, cache hits, the request as cURL (with a
// Copy button), the diff against the previous run, and the last runs.
import * as vscode from 'vscode';
import { LanguageClient, WorkDoneProgress } from 'vscode-languageclient/node';
import { copyButton, escapeHtml } from './preview';

/** What a code lens passes (`lmp.run` arguments `[uri, RunTarget]`), as listed by `lmp/runTargets`. */
export interface RunTarget {
  kind: 'module' | 'signature' | 'example' | 'test';
  name: string;
  target: string;
  inputs: { name: string; type: string }[];
  hasInputs: boolean;
}

export interface RunOutput {
  name: string;
  type: string | null;
  value: unknown;
}

export interface RunCall {
  predictor: string | null;
  model: string;
  promptTokens: number;
  completionTokens: number;
  cost: number;
  latencyMs: number;
  cached: boolean;
  attempt: string;
  response: string | null;
  error: string | null;
  curl: string | null;
}

export interface RunExpectation {
  kind: 'expect' | 'check';
  source: string;
  passed: boolean;
  message: string;
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
}

/** Result of `lmp/run` (one run; docs/editors.md). */
export interface RunResult {
  id: number;
  key: string;
  kind: RunTarget['kind'];
  name: string;
  target: string;
  status: 'ok' | 'fail' | 'error' | 'pass' | 'cancelled';
  inputs: Record<string, unknown>;
  outputs: RunOutput[];
  expected?: { name: string; expected: unknown; actual: unknown; passed: boolean }[] | null;
  expectations?: RunExpectation[];
  tokens: { prompt: number; completion: number; total: number };
  latencyMs: number;
  cost: number;
  cache: { hits: number; calls: number };
  cacheHit: boolean;
  model: string | null;
  calls: RunCall[];
  curl: string | null;
  curlNote: string | null;
  error: { type: string; message: string; rawOutput?: string | null; predictor?: string | null } | null;
  diff: {
    previousId: number;
    changed: boolean;
    inputsChanged: boolean;
    fields: { name: string; before: unknown; after: unknown; changed: boolean }[];
    tokens: [number, number];
    latencyMs: [number, number];
    text: string;
  } | null;
  time: number;
  /** uri of the file the run came from (set by the client). */
  uri?: string;
}

export const RUNS_KEPT = 10;

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

function ms(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

function money(value: number): string {
  return value ? `$${value.toFixed(value < 0.01 ? 5 : 4)}` : '$0';
}

const STATUS_LABEL: Record<string, string> = {
  ok: '✓ ok',
  pass: '✓ passed',
  fail: '✗ failed',
  error: '✗ error',
  cancelled: '◌ cancelled',
};

/** HTML of the runs section (newest first); the first is shown in full, older ones collapsed. */
export function renderRunsHtml(runs: RunResult[], running?: string): string {
  const parts: string[] = ['<section class="runs"><h1>Runs</h1>'];
  if (running) {
    parts.push(`<div class="running">⏳ ${escapeHtml(running)}</div>`);
  }
  if (!runs.length && !running) {
    parts.push('<p class="muted">Nothing run yet: click “▶ Run” above a module, signature, example or test.</p>');
  }
  runs.forEach((run, i) => parts.push(renderRun(run, i === 0)));
  parts.push('</section>');
  return parts.join('\n');
}

function renderRun(run: RunResult, open: boolean): string {
  const id = `run-${run.id}`;
  const status = run.status;
  const cls = status === 'ok' || status === 'pass' ? 'ok' : status === 'cancelled' ? 'muted' : 'bad';
  const when = new Date(run.time * 1000).toLocaleTimeString();
  const head =
    `<span class="status ${cls}">${escapeHtml(STATUS_LABEL[status] ?? status)}</span> ` +
    `<code>${escapeHtml(run.kind)} ${escapeHtml(run.name)}</code> · run ${run.id} · ${escapeHtml(when)} · ` +
    `${run.tokens.total} tokens · ${ms(run.latencyMs)}` +
    (run.cacheHit ? ' · <span class="badge">cached</span>' : '');
  const body: string[] = [];
  body.push(
    `<table class="meta"><tr><th>Model</th><td>${escapeHtml(run.model ?? '—')}</td></tr>` +
      `<tr><th>Tokens</th><td>${run.tokens.prompt} prompt + ${run.tokens.completion} completion = ${run.tokens.total}</td></tr>` +
      `<tr><th>Latency</th><td>${ms(run.latencyMs)}</td></tr>` +
      `<tr><th>Cost</th><td>${money(run.cost)}</td></tr>` +
      `<tr><th>Cache</th><td>${run.cache.hits} of ${run.cache.calls} call${run.cache.calls === 1 ? '' : 's'} from the cache</td></tr>` +
      `</table>`,
  );
  const inputs = Object.entries(run.inputs ?? {});
  if (inputs.length) {
    body.push(
      '<h2>Inputs</h2><table class="fields">' +
        inputs.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td><pre>${escapeHtml(show(v))}</pre></td></tr>`).join('') +
        '</table>',
    );
  }
  if (run.outputs.length) {
    body.push(
      '<h2>Outputs</h2><table class="fields outputs">' +
        run.outputs
          .map(
            (o) =>
              `<tr><th>${escapeHtml(o.name)}<div class="type">${escapeHtml(o.type ?? '')}</div></th>` +
              `<td><pre class="value">${escapeHtml(show(o.value))}</pre></td></tr>`,
          )
          .join('') +
        '</table>',
    );
  }
  if (run.expected?.length) {
    body.push(
      '<h2>Expected (example)</h2><ul class="checks">' +
        run.expected
          .map(
            (c) =>
              `<li class="${c.passed ? 'ok' : 'bad'}">${c.passed ? '✓' : '✗'} <code>${escapeHtml(c.name)}</code> ` +
              `expected ${escapeHtml(show(c.expected))}${c.passed ? '' : `, got ${escapeHtml(show(c.actual))}`}</li>`,
          )
          .join('') +
        '</ul>',
    );
  }
  if (run.expectations?.length) {
    body.push(
      '<h2>Expectations</h2><ul class="checks">' +
        run.expectations
          .map(
            (e) =>
              `<li class="${e.passed ? 'ok' : e.kind === 'check' ? 'warn' : 'bad'}">${e.passed ? '✓' : '✗'} ` +
              `<code>${escapeHtml(e.kind)} ${escapeHtml(e.source)}</code>${e.passed ? '' : ` — ${escapeHtml(e.message)}`}</li>`,
          )
          .join('') +
        '</ul>',
    );
  }
  if (run.error) {
    body.push(`<h2>Error</h2><div class="error">${escapeHtml(run.error.message)}</div>`);
    if (run.error.rawOutput != null) {
      body.push(
        `<details open><summary>Raw model output${run.error.predictor ? ` (${escapeHtml(run.error.predictor)})` : ''} ` +
          `${copyButton(`${id}-raw`)}</summary><pre id="${id}-raw">${escapeHtml(run.error.rawOutput)}</pre></details>`,
      );
    }
  }
  if (run.diff) {
    const d = run.diff;
    const changed = d.fields.filter((f) => f.changed);
    const summary = changed.length
      ? `${changed.length} output${changed.length === 1 ? '' : 's'} changed since run ${d.previousId}`
      : `same outputs as run ${d.previousId}`;
    body.push(
      `<details class="diff" ${changed.length ? 'open' : ''}><summary>Diff: ${escapeHtml(summary)}` +
        `${d.inputsChanged ? ' (inputs changed)' : ''} · tokens ${d.tokens[0]} → ${d.tokens[1]} · ` +
        `latency ${ms(d.latencyMs[0])} → ${ms(d.latencyMs[1])}</summary>` +
        (changed.length
          ? '<table class="fields">' +
            changed
              .map(
                (f) =>
                  `<tr><th>${escapeHtml(f.name)}</th><td><pre class="del">- ${escapeHtml(show(f.before))}</pre>` +
                  `<pre class="ins">+ ${escapeHtml(show(f.after))}</pre></td></tr>`,
              )
              .join('') +
            '</table>'
          : '') +
        '</details>',
    );
  }
  if (run.curl) {
    body.push(
      `<details class="curl"><summary>Request as cURL (keys shown as variables) ${copyButton(`${id}-curl`)}</summary>` +
        `<pre id="${id}-curl">${escapeHtml(run.curl)}</pre></details>`,
    );
  } else if (run.curlNote) {
    body.push(`<div class="muted">cURL: ${escapeHtml(run.curlNote)}</div>`);
  }
  if (run.calls.length) {
    body.push(
      `<details><summary>${run.calls.length} model call${run.calls.length === 1 ? '' : 's'}</summary>` +
        run.calls
          .map(
            (c, i) =>
              `<div class="call"><div class="muted">${escapeHtml(c.predictor ?? '—')} · ${escapeHtml(c.attempt)} · ` +
              `${c.promptTokens}+${c.completionTokens} tokens · ${c.cached ? 'cached' : ms(c.latencyMs)}</div>` +
              `<pre id="${id}-call-${i}">${escapeHtml(c.response ?? c.error ?? '')}</pre></div>`,
          )
          .join('') +
        '</details>',
    );
  }
  return (
    `<details class="run ${cls}" id="${id}" ${open ? 'open' : ''}><summary>${head}</summary>` +
    `<div class="run-body">${body.join('\n')}</div></details>`
  );
}

export type ClientGetter = () => LanguageClient;

/** Runs through the server and keeps the last runs (per panel: newest first, at most RUNS_KEPT). */
export class Playground implements vscode.Disposable {
  runs: RunResult[] = [];
  running: string | undefined;
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.emitter.event;
  private tokens = 0;

  constructor(private readonly client: ClientGetter) {}

  /** The runs section of the preview panel. */
  html(): string {
    return renderRunsHtml(this.runs, this.running);
  }

  restore(runs: RunResult[] | undefined): void {
    if (Array.isArray(runs)) {
      this.runs = runs.slice(0, RUNS_KEPT);
      this.emitter.fire();
    }
  }

  /** Run `target` of `uri` with `inputs` (strings are read by the input's declared type on the server). */
  async run(uri: string, target: RunTarget, inputs?: Record<string, unknown>, noCache = false): Promise<RunResult> {
    const client = this.client();
    const token = `lmp-run-${Date.now()}-${++this.tokens}`;
    const label = `${target.kind} ${target.name}`;
    this.running = `Running ${label}…`;
    this.emitter.fire();
    try {
      return await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `lmp: running ${label}`, cancellable: true },
        async (progress, cancel) => {
          const sub = client.onProgress(WorkDoneProgress.type, token, (value) => {
            if (value.kind !== 'end' && value.message) {
              progress.report({ message: value.message });
              this.running = `Running ${label}: ${value.message}`;
              this.emitter.fire();
            }
          });
          try {
            const params: Record<string, unknown> = { uri, kind: target.kind, name: target.name, workDoneToken: token };
            if (inputs && Object.keys(inputs).length) {
              params.inputs = inputs;
            }
            if (noCache) {
              params.noCache = true;
            }
            // The cancellation token makes the client send $/cancelRequest.
            const result = await client.sendRequest<RunResult>('lmp/run', params, cancel);
            result.uri = uri;
            this.runs = [result, ...this.runs.filter((r) => r.id !== result.id)].slice(0, RUNS_KEPT);
            return result;
          } finally {
            sub.dispose();
          }
        },
      );
    } finally {
      this.running = undefined;
      this.emitter.fire();
    }
  }

  /** Add results that arrived another way (the Testing view's runs). */
  add(results: RunResult[]): void {
    const ids = new Set(results.map((r) => r.id));
    this.runs = [...results.slice().reverse(), ...this.runs.filter((r) => !ids.has(r.id))].slice(0, RUNS_KEPT);
    this.emitter.fire();
  }

  dispose(): void {
    this.emitter.dispose();
  }
}

/** Ask for the inputs of `target` (prefilled from `previous`); undefined when the user cancels. */
export async function askInputs(
  target: RunTarget,
  previous: Record<string, unknown> | undefined,
): Promise<Record<string, string> | undefined> {
  const out: Record<string, string> = {};
  for (const input of target.inputs) {
    const prev = previous?.[input.name];
    const value = await vscode.window.showInputBox({
      title: `lmp: run ${target.kind} ${target.name}`,
      prompt: `${input.name}: ${input.type}${input.type === 'str' ? '' : ' (typed like `lmp run -i`: JSON for lists and records)'}`,
      value: prev === undefined ? '' : typeof prev === 'string' ? prev : JSON.stringify(prev),
      ignoreFocusOut: true,
    });
    if (value === undefined) {
      return undefined;
    }
    out[input.name] = value;
  }
  return out;
}
