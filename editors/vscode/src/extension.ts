// lmp for VS Code: language client for `lmp lsp`, prompt preview, output schema, run/optimize commands.
import * as path from 'path';
import * as vscode from 'vscode';
import { LanguageClient, State } from 'vscode-languageclient/node';
import { PreviewResult, PreviewTarget, PromptPreview } from './preview';
import { INSTALL_HINT, ServerStatus, createClient, lmpRequest, resolveLmpCommand } from './server';

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
}

let client: LanguageClient | undefined;
let status: ServerStatus = 'stopped';
let statusError: string | undefined;
let settled: Promise<ServerStatus> = Promise.resolve('stopped');
let output: vscode.LogOutputChannel;

function config() {
  return vscode.workspace.getConfiguration('lmp');
}

async function startServer(): Promise<ServerStatus> {
  const configured = config().get<string>('server.command', 'lmp');
  const args = config().get<string[]>('server.args', ['lsp']);
  const executable = resolveLmpCommand(configured);
  if (!executable) {
    status = 'not-found';
    statusError = /[\\/]/.test(configured)
      ? `lmp language server not found: \`${configured}\` does not exist or is not executable.`
      : `lmp language server not found: \`${configured}\` is not on the PATH VS Code sees.`;
    output.appendLine(`${statusError}\n${INSTALL_HINT}`);
    void vscode.window
      .showErrorMessage(`${statusError} ${INSTALL_HINT}`, 'Open Settings', 'Show Log')
      .then((choice) => {
        if (choice === 'Open Settings') {
          void vscode.commands.executeCommand('workbench.action.openSettings', 'lmp.server.command');
        } else if (choice === 'Show Log') {
          output.show();
        }
      });
    return status;
  }
  output.appendLine(`Starting ${executable} ${[...args, '--stdio'].join(' ')}`);
  status = 'starting';
  client = createClient(executable, args, output);
  try {
    await client.start();
    status = 'running';
    statusError = undefined;
  } catch (err) {
    status = 'failed';
    statusError =
      `The lmp language server failed to start (\`${executable} ${args.join(' ')} --stdio\`): ` +
      `${err instanceof Error ? err.message : String(err)}`;
    output.appendLine(statusError);
    void vscode.window
      .showErrorMessage(`${statusError}. Is lmp installed with its language server? ${INSTALL_HINT}`, 'Show Log')
      .then((choice) => choice && output.show());
  }
  return status;
}

async function stopServer(): Promise<void> {
  const c = client;
  client = undefined;
  status = 'stopped';
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

  const preview = new PromptPreview(
    async (target) =>
      lmpRequest<PreviewResult | null>(requireClient(), 'lmp/previewPrompt', paramsOf(target)) ?? undefined,
    () => config().get<number>('preview.debounceMs', 300),
  );

  settled = startServer();

  context.subscriptions.push(
    output,
    preview,
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

    vscode.commands.registerCommand('lmp.runModule', async (uriArg?: unknown, opts?: { args?: string; execute?: boolean }) => {
      const uri = await fileForCli(uriArg);
      if (!uri) {
        return;
      }
      // `opts.args` (from a keybinding or another extension) skips the input box.
      const extra = typeof opts?.args === 'string' ? opts.args : await vscode.window.showInputBox({
        title: `lmp run ${path.basename(uri.fsPath)}`,
        prompt: 'Extra arguments (optional), e.g. -i question="What is DSPy?" or --input data.jsonl',
        placeHolder: '-i field="value"',
        ignoreFocusOut: true,
      });
      if (extra === undefined) {
        return;
      }
      return runInTerminal(['run', uri.fsPath], extra, opts?.execute !== false);
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
  };
}

export async function deactivate(): Promise<void> {
  await stopServer();
}
