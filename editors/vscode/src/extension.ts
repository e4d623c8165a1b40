// lmp for VS Code: language client for `lmp lsp`, prompt preview, output schema, run/optimize commands.
import * as path from 'path';
import * as vscode from 'vscode';
import { LanguageClient, State } from 'vscode-languageclient/node';
import { Playground, RunResult, RunTarget, askInputs } from './playground';
import { PREVIEW_VIEW_TYPE, PreviewResult, PreviewState, PreviewTarget, PromptPreview } from './preview';
import { INSTALL_HINT, ServerStatus, createClient, lmpRequest, resolveLmpCommand } from './server';
import { LmpTests } from './testing';

const SCHEMA_SCHEME = 'lmp-schema';

export interface OutputSchemaResult {
  predictor: string;
  schema: unknown;
}

/** What `activate` returns (used by the extension tests, usable by other extensions). */
export interface LmpApi {
  readonly client: LanguageClient | undefined;
  readonly serverStatus: ServerStatus;
  readonly serverError: string | undefined;
  /** Resolves once the server is running or has definitely failed / is missing. */
  whenServerSettled(): Promise<ServerStatus>;
  readonly preview: PromptPreview;
  readonly playground: Playground;
  readonly tests: LmpTests;
  /** The status-bar item's text and whether a "server not found/failed" notification is open. */
  readonly statusText: string;
  readonly problemNotificationOpen: boolean;
}

let client: LanguageClient | undefined;
let status: ServerStatus = 'stopped';
let statusError: string | undefined;
let settled: Promise<ServerStatus> = Promise.resolve('stopped');
let output: vscode.LogOutputChannel;
let statusItem: vscode.StatusBarItem | undefined;
let closeProblem: (() => void) | undefined;
let onRunning: (() => void) | undefined;

function updateStatusItem(): void {
  if (!statusItem) {
    return;
  }
  const text: Record<ServerStatus, string> = {
    starting: '$(sync~spin) lmp',
    running: '$(check) lmp',
    'not-found': '$(error) lmp: server not found',
    failed: '$(error) lmp: server failed',
    stopped: '$(circle-slash) lmp',
  };
  statusItem.text = text[status];
  statusItem.tooltip =
    status === 'running'
      ? 'lmp language server: ready. Click to restart it or show its log.'
      : status === 'starting'
        ? 'lmp language server: starting…'
        : `lmp language server: ${statusError ?? status}. Click for options.`;
  statusItem.backgroundColor =
    status === 'not-found' || status === 'failed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  statusItem.show();
}

function setStatus(next: ServerStatus): void {
  status = next;
  updateStatusItem();
  if (next === 'running') {
    // A notification about a missing or failed server is stale once one runs: close it.
    closeProblem?.();
    onRunning?.();
  }
}

/**
 * Show a server problem as a notification that closes by itself once a (re)started server runs.
 * VS Code cannot close a showErrorMessage notification, but it closes a progress notification when its
 * promise settles; the status-bar item offers the settings and the log.
 */
function showProblem(message: string): void {
  closeProblem?.();
  void vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'lmp', cancellable: true },
    (progress, token) => {
      progress.report({ message: `${message} (Click "lmp" in the status bar for settings, the log or a restart.)` });
      return new Promise<void>((resolve) => {
        const close = () => {
          if (closeProblem === close) {
            closeProblem = undefined;
          }
          resolve();
        };
        closeProblem = close;
        token.onCancellationRequested(close);
      });
    },
  );
}

function config() {
  return vscode.workspace.getConfiguration('lmp');
}

async function startServer(): Promise<ServerStatus> {
  const configured = config().get<string>('server.command', 'lmp');
  const args = config().get<string[]>('server.args', ['lsp']);
  const executable = resolveLmpCommand(configured);
  if (!executable) {
    setStatus('not-found');
    statusError = /[\\/]/.test(configured)
      ? `lmp language server not found: \`${configured}\` does not exist or is not executable.`
      : `lmp language server not found: \`${configured}\` is not on the PATH VS Code sees.`;
    output.appendLine(`${statusError}\n${INSTALL_HINT}`);
    updateStatusItem();
    showProblem(`${statusError} ${INSTALL_HINT}`);
    return status;
  }
  output.appendLine(`Starting ${executable} ${[...args, '--stdio'].join(' ')}`);
  statusError = undefined;
  setStatus('starting');
  client = createClient(executable, args, output);
  try {
    await client.start();
    statusError = undefined;
    setStatus('running');
  } catch (err) {
    statusError =
      `The lmp language server failed to start (\`${executable} ${args.join(' ')} --stdio\`): ` +
      `${err instanceof Error ? err.message : String(err)}`;
    output.appendLine(statusError);
    setStatus('failed');
    showProblem(`${statusError}. Is lmp installed with its language server? ${INSTALL_HINT}`);
  }
  return status;
}

async function stopServer(): Promise<void> {
  const c = client;
  client = undefined;
  setStatus('stopped');
  if (c && c.state !== State.Stopped) {
    try {
      await c.stop(2000);
    } catch {
      /* already gone */
    }
  }
}

function requireClient(): LanguageClient {
  if (client && status === 'running') {
    return client;
  }
  const why = statusError ?? 'The lmp language server is not running.';
  throw new Error(`${why} ${INSTALL_HINT}`);
}

/** Arguments come from the code lens as `[uri, predictorId]`; from the palette there are none (use the cursor). */
function targetFrom(uriArg: unknown, predictorArg: unknown): PreviewTarget | undefined {
  const editor = vscode.window.activeTextEditor;
  let uri: string | undefined;
  if (typeof uriArg === 'string') {
    uri = uriArg;
  } else if (uriArg instanceof vscode.Uri) {
    uri = uriArg.toString();
  }
  if (!uri) {
    if (!editor || editor.document.languageId !== 'lmp') {
      return undefined;
    }
    uri = editor.document.uri.toString();
  }
  const target: PreviewTarget = { uri };
  if (typeof predictorArg === 'string' && predictorArg) {
    target.predictor = predictorArg;
  } else if (editor && editor.document.uri.toString() === uri) {
    const p = editor.selection.active;
    target.position = { line: p.line, character: p.character };
  }
  return target;
}

function paramsOf(target: PreviewTarget): Record<string, unknown> {
  const params: Record<string, unknown> = { uri: target.uri };
  if (target.predictor) {
    params.predictor = target.predictor;
  } else if (target.position) {
    params.position = target.position;
  }
  return params;
}

class SchemaDocuments implements vscode.TextDocumentContentProvider {
  private readonly contents = new Map<string, string>();
  private readonly emitter = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.emitter.event;
  set(uri: vscode.Uri, text: string): void {
    this.contents.set(uri.toString(), text);
    this.emitter.fire(uri);
  }
  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(uri.toString()) ?? '{}';
  }
}

function shellQuote(value: string): string {
  if (process.platform === 'win32') {
    return `"${value.replace(/"/g, '""')}"`;
  }
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

async function fileForCli(uriArg: unknown): Promise<vscode.Uri | undefined> {
  let uri: vscode.Uri | undefined;
  if (uriArg instanceof vscode.Uri) {
    uri = uriArg;
  } else if (typeof uriArg === 'string') {
    uri = vscode.Uri.parse(uriArg);
  } else {
    uri = vscode.window.activeTextEditor?.document.uri;
  }
  if (!uri || uri.scheme !== 'file' || !uri.fsPath.endsWith('.lmp')) {
    void vscode.window.showErrorMessage('lmp: open a saved .lmp file first.');
    return undefined;
  }
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri!.toString());
  if (doc?.isDirty) {
    await doc.save();
  }
  return uri;
}

interface RunOptions {
  /** Input values (text is read by the input's declared type, like `lmp run -i`); skips the input boxes. */
  inputs?: Record<string, unknown>;
  noCache?: boolean;
}

interface OptimizeOptions {
  train?: string;
  dev?: string;
  metric?: string;
  optimizer?: string;
  output?: string;
  /** false: type the command into the terminal without pressing Enter */
  execute?: boolean;
}

/** Sends `lmp ARGV... EXTRA` to the "lmp" terminal; returns the command line sent. */
function runInTerminal(argv: string[], extra = '', execute = true): string {
  const configured = config().get<string>('server.command', 'lmp');
  const exe = resolveLmpCommand(configured) ?? configured;
  let terminal = vscode.window.terminals.find((t) => t.name === 'lmp');
  if (!terminal) {
    const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    terminal = vscode.window.createTerminal({ name: 'lmp', cwd });
  }
  terminal.show(true);
  const line = [exe, ...argv].map(shellQuote).join(' ') + (extra.trim() ? ` ${extra.trim()}` : '');
  terminal.sendText(line, execute);
  return line;
}

export function activate(context: vscode.ExtensionContext): LmpApi {
  output = vscode.window.createOutputChannel('lmp', { log: true });
  const schemaDocs = new SchemaDocuments();

  statusItem = vscode.window.createStatusBarItem('lmp.server', vscode.StatusBarAlignment.Right, 100);
  statusItem.name = 'lmp language server';
  statusItem.command = 'lmp.serverMenu';
  updateStatusItem();
  const playground = new Playground(requireClient);
  const preview = new PromptPreview(
    async (target) =>
      lmpRequest<PreviewResult | null>(requireClient(), 'lmp/previewPrompt', paramsOf(target)) ?? undefined,
    () => config().get<number>('preview.debounceMs', 300),
    playground,
  );
  const tests = new LmpTests(() => (client && status === 'running' ? client : undefined), (results) => playground.add(results));
  onRunning = () => void tests.serverReady();

  /** Run a target through the server and show the result next to its prompt. */
  const runTarget = async (uri: string, target: RunTarget, opts?: RunOptions): Promise<RunResult | undefined> => {
    let inputs: Record<string, unknown> | undefined = opts?.inputs;
    const key = (r: RunResult) => r.kind === target.kind && r.name === target.name && r.uri === uri;
    if (!inputs && !target.hasInputs && target.inputs.length && !playground.runs.some(key)) {
      inputs = await askInputs(target, undefined);
      if (!inputs) {
        return undefined;
      }
    }
    const shown = preview.show({ uri, predictor: target.target || undefined }).catch(() => undefined);
    let result: RunResult;
    try {
      result = await playground.run(uri, target, inputs, opts?.noCache === true);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (!/cancel/i.test(message)) {
        void vscode.window.showErrorMessage(`lmp: ${message}`);
      }
      return undefined;
    }
    await shown;
    return result;
  };

  settled = startServer();

  context.subscriptions.push(
    output,
    statusItem,
    playground,
    preview,
    tests,
    // The panel comes back after a window reload, with its target and its runs (webview state).
    vscode.window.registerWebviewPanelSerializer(PREVIEW_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel, state: unknown) => {
        await Promise.race([settled, new Promise((r) => setTimeout(r, 10000))]);
        await preview.restore(panel, (state ?? undefined) as PreviewState | undefined);
      },
    }),
    { dispose: () => void stopServer() },
    vscode.workspace.registerTextDocumentContentProvider(SCHEMA_SCHEME, schemaDocs),

    vscode.commands.registerCommand('lmp.previewPrompt', async (uriArg?: unknown, predictorArg?: unknown) => {
      const target = targetFrom(uriArg, predictorArg);
      if (!target) {
        void vscode.window.showErrorMessage('lmp: open a .lmp file to preview a prompt.');
        return undefined;
      }
      const result = await preview.show(target);
      return { result, error: preview.lastError, html: preview.lastHtml };
    }),

    vscode.commands.registerCommand('lmp.showOutputSchema', async (uriArg?: unknown, predictorArg?: unknown) => {
      const target = targetFrom(uriArg, predictorArg);
      if (!target) {
        void vscode.window.showErrorMessage('lmp: open a .lmp file and put the cursor on a predictor.');
        return undefined;
      }
      let result: OutputSchemaResult | null;
      try {
        result = await lmpRequest<OutputSchemaResult | null>(requireClient(), 'lmp/outputSchema', paramsOf(target));
      } catch (err) {
        void vscode.window.showErrorMessage(`lmp: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      }
      if (!result) {
        void vscode.window.showWarningMessage('lmp: no predictor at the cursor.');
        return undefined;
      }
      const name = String(result.predictor).replace(/[^A-Za-z0-9_.-]/g, '_');
      const uri = vscode.Uri.from({
        scheme: SCHEMA_SCHEME,
        path: `/${name}.schema.json`,
        query: target.uri,
      });
      schemaDocs.set(uri, JSON.stringify(result.schema, null, 2) + '\n');
      const doc = await vscode.workspace.openTextDocument(uri);
      await vscode.languages.setTextDocumentLanguage(doc, 'json');
      await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: true });
      return result;
    }),

    vscode.commands.registerCommand('lmp.run', async (uriArg?: unknown, target?: RunTarget, opts?: RunOptions) => {
      const uri = uriArg instanceof vscode.Uri ? uriArg.toString() : typeof uriArg === 'string' ? uriArg : undefined;
      if (!uri || !target || typeof target.name !== 'string') {
        return vscode.commands.executeCommand('lmp.runModule');
      }
      return runTarget(uri, target, opts);
    }),

    // "Run module" goes through the language server too (progress, cancellation, results in the panel):
    // no terminal, and nothing is written into the workspace.
    vscode.commands.registerCommand('lmp.runModule', async (uriArg?: unknown, opts?: RunOptions & { module?: string }) => {
      let uri: vscode.Uri | undefined =
        uriArg instanceof vscode.Uri ? uriArg : typeof uriArg === 'string' ? vscode.Uri.parse(uriArg) : undefined;
      uri ??= vscode.window.activeTextEditor?.document.uri;
      if (!uri || !uri.path.endsWith('.lmp')) {
        void vscode.window.showErrorMessage('lmp: open a .lmp file first.');
        return undefined;
      }
      let targets: RunTarget[];
      try {
        targets = (await requireClient().sendRequest<{ targets: RunTarget[] }>('lmp/runTargets', { uri: uri.toString() })).targets;
      } catch (err) {
        void vscode.window.showErrorMessage(`lmp: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      }
      const modules = targets.filter((t) => t.kind === 'module');
      let target = modules.find((t) => t.name === opts?.module);
      if (!target && opts?.module) {
        void vscode.window.showErrorMessage(`lmp: no module \`${opts.module}\` in ${path.basename(uri.fsPath)}`);
        return undefined;
      }
      if (!target) {
        if (!modules.length) {
          void vscode.window.showErrorMessage(`lmp: ${path.basename(uri.fsPath)} has no module to run.`);
          return undefined;
        }
        const picked =
          modules.length === 1
            ? modules[0]
            : (await vscode.window.showQuickPick(modules.map((m) => ({ label: m.name, target: m })), { title: 'lmp: run module' }))?.target;
        if (!picked) {
          return undefined;
        }
        target = picked;
      }
      return runTarget(uri.toString(), target, opts);
    }),

    vscode.commands.registerCommand('lmp.serverMenu', async () => {
      const items = [
        { label: '$(debug-restart) Restart language server', id: 'restart' },
        { label: '$(output) Show log', id: 'log' },
        { label: '$(gear) Open settings (lmp.server.command)', id: 'settings' },
      ];
      const choice = await vscode.window.showQuickPick(items, {
        title: `lmp language server: ${status}${statusError ? ` — ${statusError}` : ''}`,
      });
      if (choice?.id === 'restart') {
        await vscode.commands.executeCommand('lmp.restartServer');
      } else if (choice?.id === 'log') {
        output.show();
      } else if (choice?.id === 'settings') {
        await vscode.commands.executeCommand('workbench.action.openSettings', 'lmp.server.command');
      }
    }),

    vscode.commands.registerCommand('lmp.optimize', async (uriArg?: unknown, opts?: OptimizeOptions) => {
      const uri = await fileForCli(uriArg);
      if (!uri) {
        return;
      }
      const base = uri.fsPath.replace(/\.lmp$/, '');
      const title = `lmp optimize ${path.basename(uri.fsPath)}`;
      // Options given programmatically skip their prompt.
      const ask = <T>(value: T | undefined, prompt: () => Thenable<T | undefined>) =>
        value !== undefined ? Promise.resolve(value) : prompt();
      const train = await ask(opts?.train, () => vscode.window.showInputBox({
        title,
        prompt: 'Training set (JSONL)',
        value: 'train.jsonl',
        ignoreFocusOut: true,
        validateInput: (v) => (v.trim() ? undefined : 'a training set is required'),
      }));
      if (train === undefined) {
        return;
      }
      const dev = await ask(opts?.dev, () => vscode.window.showInputBox({
        title,
        prompt: 'Dev set (JSONL, optional: leave empty to split the training set)',
        ignoreFocusOut: true,
      }));
      if (dev === undefined) {
        return;
      }
      const metric = await ask(opts?.metric, () => vscode.window.showInputBox({
        title,
        prompt: 'Metric: a `metric` declared in the file or a built-in (exact_match, ...)',
        value: 'exact_match',
        ignoreFocusOut: true,
      }));
      if (metric === undefined) {
        return;
      }
      const optimizer = await ask(opts?.optimizer, () => vscode.window.showQuickPick(
        ['bootstrap', 'mipro', 'copro', 'random_search', 'labeled'],
        { title, placeHolder: 'Optimizer', ignoreFocusOut: true },
      ));
      if (optimizer === undefined) {
        return;
      }
      const out = await ask(opts?.output, () => vscode.window.showInputBox({
        title,
        prompt: 'Write the optimized state to',
        value: `${base}.opt.json`,
        ignoreFocusOut: true,
      }));
      if (out === undefined) {
        return;
      }
      const argv = ['optimize', uri.fsPath, '--train', train.trim()];
      if (dev.trim()) {
        argv.push('--dev', dev.trim());
      }
      if (metric.trim()) {
        argv.push('--metric', metric.trim());
      }
      argv.push('--optimizer', optimizer, '-o', out.trim());
      return runInTerminal(argv, '', opts?.execute !== false);
    }),

    vscode.commands.registerCommand('lmp.restartServer', async () => {
      await stopServer();
      settled = startServer();
      return settled;
    }),

    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('lmp.server')) {
        void vscode.commands.executeCommand('lmp.restartServer');
      }
    }),
  );

  return {
    get client() {
      return client;
    },
    get serverStatus() {
      return status;
    },
    get serverError() {
      return statusError;
    },
    whenServerSettled: () => settled,
    preview,
    playground,
    tests,
    get statusText() {
      return statusItem?.text ?? '';
    },
    get problemNotificationOpen() {
      return closeProblem !== undefined;
    },
  };
}

export async function deactivate(): Promise<void> {
  await stopServer();
}
