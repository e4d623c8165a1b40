// The prompt preview: a side panel showing the exact messages a predictor would send.
import * as vscode from 'vscode';
import type { Playground, RunResult } from './playground';

export interface PreviewMessage {
  role: string;
  content: string;
}

/** Result of `lmp/previewPrompt` (docs/architecture.md). */
export interface PreviewResult {
  predictor: string;
  signature?: string;
  adapter?: string;
  messages: PreviewMessage[];
  example?: string | null;
  state?: string | null;
  model?: string | null;
  /** The decoding constraint the call sends (kind, grammar or schema, notes); shown collapsed. */
  constraint?: {
    kind: string;
    server?: string | null;
    max_tokens?: number | null;
    grammar?: string;
    schema?: unknown;
    reason?: string;
    notes?: string[];
  } | null;
  /** Token counts from the server: "exact" with the model's own tokenizer (the local model), else an estimate. */
  tokens?: PreviewTokens | null;
}

export interface PreviewTokens {
  method: 'exact' | 'estimate';
  perMessage: number[];
  total: number;
  tokenizer?: string | null;
  note?: string;
}

export interface PreviewTarget {
  uri: string;
  predictor?: string;
  position?: { line: number; character: number };
}

export type PreviewRequester = (target: PreviewTarget) => Promise<PreviewResult | null | undefined>;

export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A copy button: the webview script copies the element with id `target` (or the first <pre> of its section). */
export function copyButton(target: string, label = 'Copy'): string {
  const attr = target ? ` data-copy="${escapeHtml(target)}"` : '';
  return `<button class="copy"${attr} title="Copy to the clipboard">${escapeHtml(label)}</button>`;
}

function nonce(): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < 32; i++) {
    out += chars.charAt(Math.floor(Math.random() * chars.length));
  }
  return out;
}

const STYLE = `
body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground);
  background: var(--vscode-editor-background); padding: 0 12px 16px; }
h1 { font-size: 1.25em; margin: 12px 0 6px; }
h1 code { font-family: var(--vscode-editor-font-family); }
table.meta { border-collapse: collapse; margin-bottom: 12px; }
table.meta th { text-align: left; font-weight: 600; padding: 2px 12px 2px 0; color: var(--vscode-descriptionForeground); }
table.meta td { padding: 2px 0; font-family: var(--vscode-editor-font-family); }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 0.85em;
  background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); }
.msg { border: 1px solid var(--vscode-panel-border, #8884); border-radius: 8px; margin: 10px 0; max-width: 100%; }
.msg .role { font-weight: 600; text-transform: uppercase; font-size: 0.8em; letter-spacing: 0.05em;
  padding: 4px 10px; border-bottom: 1px solid var(--vscode-panel-border, #8884); }
.msg pre { margin: 0; padding: 8px 10px; white-space: pre-wrap; word-break: break-word;
  font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }
.role-system { background: var(--vscode-textBlockQuote-background, #8881); }
.role-user { margin-left: 8%; background: var(--vscode-editor-inactiveSelectionBackground, #36f2); }
.role-assistant { margin-right: 8%; background: var(--vscode-diffEditor-insertedTextBackground, #3a32); }
.error { border-left: 4px solid var(--vscode-errorForeground, #e51400); padding: 6px 10px;
  background: var(--vscode-inputValidation-errorBackground, #e5140022); white-space: pre-wrap; }
.muted { color: var(--vscode-descriptionForeground); }
details.msg > summary { cursor: pointer; list-style-position: inside; }
.msg .tokens { float: right; font-weight: normal; text-transform: none; letter-spacing: 0; }
button.copy { font-size: 0.8em; margin-left: 6px; padding: 0 6px; cursor: pointer; border: none; border-radius: 3px;
  color: var(--vscode-button-secondaryForeground); background: var(--vscode-button-secondaryBackground); }
.layout.with-runs { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px; }
@media (max-width: 800px) { .layout.with-runs { display: flex; flex-direction: column; } .layout.with-runs .runs { order: -1; } }
.runs h2 { font-size: 1em; margin: 10px 0 4px; }
details.run { border: 1px solid var(--vscode-panel-border, #8884); border-radius: 8px; margin: 8px 0; padding: 4px 8px; }
details.run > summary { cursor: pointer; }
.run-body pre { white-space: pre-wrap; word-break: break-word; margin: 2px 0; font-family: var(--vscode-editor-font-family); }
table.fields { border-collapse: collapse; width: 100%; }
table.fields th { text-align: left; vertical-align: top; padding: 2px 10px 2px 0; width: 25%; }
table.fields td { padding: 2px 0; }
.type { font-weight: normal; color: var(--vscode-descriptionForeground); font-family: var(--vscode-editor-font-family); }
.status.ok, li.ok { color: var(--vscode-testing-iconPassed, #388a34); }
.status.bad, li.bad { color: var(--vscode-testing-iconFailed, #e51400); }
li.warn { color: var(--vscode-editorWarning-foreground, #bf8803); }
ul.checks { list-style: none; padding-left: 4px; margin: 4px 0; }
pre.del { background: var(--vscode-diffEditor-removedTextBackground, #e5140022); }
pre.ins { background: var(--vscode-diffEditor-insertedTextBackground, #3a32); }
.running { padding: 6px 10px; border-left: 4px solid var(--vscode-progressBar-background, #0e70c0); }
`;

/** Rough token count of a text (about 4 characters per token for English and code); shown with "≈". */
export function approxTokens(text: string): number {
  return Math.max(1, Math.round(String(text ?? '').length / 4));
}

/** "212 tokens" when the server counted with the model's tokenizer, "≈180 tokens" for an estimate (the
 * server's, or ours for a server that sends no counts). */
export function tokenLabel(result: PreviewResult, index?: number): string {
  const messages = Array.isArray(result.messages) ? result.messages : [];
  const t = result.tokens;
  const usable = t && Array.isArray(t.perMessage) && t.perMessage.length === messages.length;
  if (index === undefined) {
    const n = usable ? t.total : messages.reduce((sum, m) => sum + approxTokens(String(m?.content ?? '')), 0);
    return usable && t.method === 'exact' ? `${n} tokens` : `≈${n} tokens`;
  }
  if (usable) {
    return `${t.method === 'exact' ? '' : '≈'}${t.perMessage[index]} tokens`;
  }
  return `≈${approxTokens(String(messages[index]?.content ?? ''))} tokens`;
}

/** What the counts are: "exact (smollm2 tokenizer)" or "estimate", with the server's note as a tooltip. */
function tokenKind(result: PreviewResult): string {
  const t = result.tokens;
  if (t && t.method === 'exact') {
    return ` <span class="badge" title="${escapeHtml(t.note ?? '')}">exact</span> ` +
      `<span class="muted">${escapeHtml(t.tokenizer ?? '')}</span>`;
  }
  const why = t?.note ?? 'about 4 characters per token';
  return ` <span class="muted" title="${escapeHtml(why)}">(estimate)</span>`;
}

// Copy buttons copy the element named by data-copy (or the first <pre> of their section) through the
// extension (the clipboard API of webviews is not reliable everywhere); the state survives a window reload.
const SCRIPT = `
const vscode = acquireVsCodeApi();
const stateEl = document.getElementById('lmp-state');
if (stateEl) { try { vscode.setState(JSON.parse(stateEl.textContent)); } catch (e) {} }
document.addEventListener('click', (ev) => {
  const button = ev.target.closest && ev.target.closest('button.copy');
  if (!button) { return; }
  ev.preventDefault();
  ev.stopPropagation();
  const id = button.getAttribute('data-copy');
  const el = (id && document.getElementById(id)) || button.closest('details, section').querySelector('pre');
  if (el) {
    vscode.postMessage({ type: 'copy', text: el.textContent });
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = 'Copy'; }, 1500);
  }
});
`;

/** Messages beyond which the middle ones start collapsed. */
export const LONG_PREVIEW = 8;

/** JSON that is safe inside a <script> element. */
function jsonForHtml(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

export function renderPreviewHtml(
  result: PreviewResult | undefined,
  error: string | undefined,
  opts: { cspSource: string; nonce?: string; source?: string; runsHtml?: string; state?: unknown },
): string {
  const n = opts.nonce ?? nonce();
  const csp =
    `default-src 'none'; style-src 'nonce-${n}'; script-src 'nonce-${n}'; ` +
    `img-src ${opts.cspSource} data:; font-src ${opts.cspSource};`;
  const parts: string[] = [];
  if (error) {
    parts.push(`<h1>Prompt preview</h1><div class="error">${escapeHtml(error)}</div>`);
  }
  if (result) {
    const rows: [string, string][] = [
      ['Signature', escapeHtml(result.signature ?? '—')],
      ['Adapter', escapeHtml(result.adapter ?? '—')],
      ['Model', escapeHtml(result.model ?? 'default')],
      [
        'Example',
        result.example
          ? `<span class="badge">example</span> ${escapeHtml(result.example)}`
          : '<span class="muted">none (inputs shown as placeholders)</span>',
      ],
      [
        'Optimized state',
        result.state
          ? `<span class="badge">applied</span> ${escapeHtml(result.state)}`
          : '<span class="muted">not applied (instructions and demos as written)</span>',
      ],
    ];
    if (opts.source) {
      rows.push(['File', escapeHtml(opts.source)]);
    }
    parts.push(`<h1>Prompt for <code>${escapeHtml(result.predictor)}</code></h1>`);
    parts.push(
      `<table class="meta">${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${v}</td></tr>`).join('')}</table>`,
    );
    const messages = Array.isArray(result.messages) ? result.messages : [];
    parts.push(
      `<div class="muted">${messages.length} message${messages.length === 1 ? '' : 's'} · ${tokenLabel(result)}` +
        `${tokenKind(result)}` +
        `${messages.length > LONG_PREVIEW ? ' · long prompt: the middle messages start collapsed' : ''}</div>`,
    );
    messages.forEach((m, i) => {
      const role = String(m?.role ?? 'unknown');
      const cls = /^[a-z]+$/.test(role) ? `role-${role}` : 'role-other';
      // A long prompt (many demos) starts with its first and last two messages open.
      const open = messages.length <= LONG_PREVIEW || i === 0 || i >= messages.length - 2;
      parts.push(
        `<details class="msg ${cls}"${open ? ' open' : ''}><summary class="role">${escapeHtml(role)} ` +
          `<span class="tokens">${tokenLabel(result, i)} ${copyButton('')}</span></summary>` +
          `<pre>${escapeHtml(m?.content)}</pre></details>`,
      );
    });
    // --- decoding constraint (collapsed by default) ---
    const c = result.constraint;
    if (c) {
      const body = c.grammar ?? (c.schema !== undefined ? JSON.stringify(c.schema, null, 2) : `(none sent: ${c.reason ?? ''})`);
      const notes = (c.notes ?? []).map((t) => `<div class="muted">note: ${escapeHtml(t)}</div>`).join('');
      const server = c.server ? ` for ${escapeHtml(c.server)}` : '';
      parts.push(
        `<details class="msg"><summary class="role">Constraint: ${escapeHtml(c.kind)}${server} · max_tokens ${escapeHtml(c.max_tokens ?? '—')}</summary>` +
          `<pre>${escapeHtml(body)}</pre>${notes}</details>`,
      );
    }
  } else if (!error) {
    parts.push('<h1>Prompt preview</h1><p class="muted">Loading…</p>');
  }
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<style nonce="${n}">${STYLE}</style>
<title>lmp prompt preview</title>
</head>
<body>
<div class="layout${opts.runsHtml ? ' with-runs' : ''}">
<div class="prompt">${parts.join('\n')}</div>
${opts.runsHtml ?? ''}
</div>
<script type="application/json" id="lmp-state">${jsonForHtml(opts.state ?? null)}</script>
<script nonce="${n}">${SCRIPT}</script>
</body>
</html>`;
}

export const PREVIEW_VIEW_TYPE = 'lmp.promptPreview';

/** What the panel keeps across a window reload (webview state, restored by the serializer). */
export interface PreviewState {
  target?: PreviewTarget;
  runs?: RunResult[];
}

/**
 * One preview panel, retargeted by each "Preview prompt" (or run) and refreshed (debounced) as its document
 * changes. It shows the prompt and, next to it, the playground's runs. Restored after a window reload.
 */
export class PromptPreview implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private target: PreviewTarget | undefined;
  private timer: NodeJS.Timeout | undefined;
  private generation = 0;
  private readonly disposables: vscode.Disposable[] = [];
  lastResult: PreviewResult | undefined;
  lastError: string | undefined;
  lastHtml = '';
  /** The text last sent to the clipboard by a Copy button (for tests). */
  lastCopied: string | undefined;

  constructor(
    private readonly request: PreviewRequester,
    private readonly debounceMs: () => number,
    private readonly playground?: Playground,
  ) {
    this.disposables.push(
      vscode.workspace.onDidChangeTextDocument((e) => this.onChange(e.document)),
      vscode.workspace.onDidSaveTextDocument((d) => this.onChange(d)),
    );
    if (playground) {
      this.disposables.push(playground.onDidChange(() => this.render()));
    }
  }

  get visible(): boolean {
    return this.panel !== undefined;
  }

  get currentTarget(): PreviewTarget | undefined {
    return this.target;
  }

  async show(target: PreviewTarget): Promise<PreviewResult | undefined> {
    this.target = target;
    if (!this.panel) {
      this.adopt(
        vscode.window.createWebviewPanel(
          PREVIEW_VIEW_TYPE,
          'Prompt preview',
          { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
          { enableScripts: true, enableFindWidget: true, localResourceRoots: [] },
        ),
      );
      this.setHtml(undefined, undefined);
    } else {
      this.panel.reveal(undefined, true);
    }
    await this.refresh();
    return this.lastResult;
  }

  /** A panel VS Code kept across a window reload: take it over with its saved target and runs. */
  async restore(panel: vscode.WebviewPanel, state: PreviewState | undefined): Promise<void> {
    this.panel?.dispose();
    this.adopt(panel);
    panel.webview.options = { enableScripts: true, localResourceRoots: [] };
    this.target = state?.target;
    this.playground?.restore(state?.runs);
    this.setHtml(undefined, this.target ? undefined : 'Restored: run or preview something to fill this panel.');
    if (this.target) {
      await this.refresh();
    }
  }

  private adopt(panel: vscode.WebviewPanel): void {
    this.panel = panel;
    panel.onDidDispose(() => {
      if (this.panel === panel) {
        this.panel = undefined;
        this.target = undefined;
      }
    }, null, this.disposables);
    panel.webview.onDidReceiveMessage((m: { type?: string; text?: unknown }) => {
      if (m?.type === 'copy' && typeof m.text === 'string') {
        this.lastCopied = m.text;
        void vscode.env.clipboard.writeText(m.text);
      }
    }, null, this.disposables);
  }

  private onChange(doc: vscode.TextDocument): void {
    if (!this.panel || !this.target || doc.uri.toString() !== this.target.uri) {
      return;
    }
    if (this.timer) {
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh();
    }, this.debounceMs());
  }

  async refresh(): Promise<void> {
    const target = this.target;
    if (!this.panel || !target) {
      return;
    }
    const gen = ++this.generation;
    let result: PreviewResult | undefined;
    let error: string | undefined;
    try {
      result = (await this.request(target)) ?? undefined;
      if (!result) {
        error = 'No predictor here: put the cursor on a signature or a `let` predictor, or use the "Preview prompt" code lens.';
      }
    } catch (err) {
      error = `The language server could not render this prompt:\n${err instanceof Error ? err.message : String(err)}`;
    }
    if (gen !== this.generation) {
      return; // a newer refresh is under way
    }
    if (result && target.predictor === undefined) {
      // Pin the predictor found at the cursor so edits elsewhere keep showing the same one.
      target.predictor = result.predictor;
    }
    // Keep the last good messages on screen while the file is temporarily broken.
    this.lastError = error;
    if (result) {
      this.lastResult = result;
    }
    this.setHtml(result ?? (error ? this.lastResult : undefined), error);
  }

  /** Re-render with what is known (the runs changed). */
  private render(): void {
    if (this.panel) {
      this.setHtml(this.lastResult, this.lastError);
    }
  }

  private setHtml(result: PreviewResult | undefined, error: string | undefined): void {
    if (!this.panel) {
      return;
    }
    const source = this.target ? vscode.workspace.asRelativePath(vscode.Uri.parse(this.target.uri)) : undefined;
    this.panel.title = result ? `Prompt: ${result.predictor}` : 'Prompt preview';
    const runsHtml = this.playground ? this.playground.html() : undefined;
    const state: PreviewState = { target: this.target, runs: this.playground?.runs };
    this.lastHtml = renderPreviewHtml(result, error, { cspSource: this.panel.webview.cspSource, source, runsHtml, state });
    this.panel.webview.html = this.lastHtml;
  }

  dispose(): void {
    if (this.timer) {
      clearTimeout(this.timer);
    }
    this.panel?.dispose();
    this.disposables.forEach((d) => d.dispose());
  }
}
