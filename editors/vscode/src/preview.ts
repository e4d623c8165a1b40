// The prompt preview: a side panel showing the exact messages a predictor would send.
import * as vscode from 'vscode';

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
`;

export function renderPreviewHtml(
  result: PreviewResult | undefined,
  error: string | undefined,
  opts: { cspSource: string; nonce?: string; source?: string },
): string {
  const n = opts.nonce ?? nonce();
  const csp = `default-src 'none'; style-src 'nonce-${n}'; img-src ${opts.cspSource} data:; font-src ${opts.cspSource};`;
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
    parts.push(`<div class="muted">${messages.length} message${messages.length === 1 ? '' : 's'}</div>`);
    for (const m of messages) {
      const role = String(m?.role ?? 'unknown');
      const cls = /^[a-z]+$/.test(role) ? `role-${role}` : 'role-other';
      parts.push(
        `<section class="msg ${cls}"><div class="role">${escapeHtml(role)}</div><pre>${escapeHtml(m?.content)}</pre></section>`,
      );
    }
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
${parts.join('\n')}
</body>
</html>`;
}

/** One preview panel, retargeted by each "Preview prompt" and refreshed (debounced) as its document changes. */
export class PromptPreview implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private target: PreviewTarget | undefined;
  private timer: NodeJS.Timeout | undefined;
  private generation = 0;
  private readonly disposables: vscode.Disposable[] = [];
  lastResult: PreviewResult | undefined;
  lastError: string | undefined;
  lastHtml = '';

  constructor(
    private readonly request: PreviewRequester,
    private readonly debounceMs: () => number,
  ) {
    this.disposables.push(
      vscode.workspace.onDidChangeTextDocument((e) => this.onChange(e.document)),
      vscode.workspace.onDidSaveTextDocument((d) => this.onChange(d)),
    );
  }

  get visible(): boolean {
    return this.panel !== undefined;
  }

  async show(target: PreviewTarget): Promise<PreviewResult | undefined> {
    this.target = target;
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel(
        'lmp.promptPreview',
        'Prompt preview',
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
        { enableScripts: false, enableFindWidget: true, localResourceRoots: [] },
      );
      this.panel.onDidDispose(() => {
        this.panel = undefined;
        this.target = undefined;
      }, null, this.disposables);
      this.setHtml(undefined, undefined);
    } else {
      this.panel.reveal(undefined, true);
    }
    await this.refresh();
    return this.lastResult;
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

  private setHtml(result: PreviewResult | undefined, error: string | undefined): void {
    if (!this.panel) {
      return;
    }
    const source = this.target ? vscode.workspace.asRelativePath(vscode.Uri.parse(this.target.uri)) : undefined;
    this.panel.title = result ? `Prompt: ${result.predictor}` : 'Prompt preview';
    this.lastHtml = renderPreviewHtml(result, error, { cspSource: this.panel.webview.cspSource, source });
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
