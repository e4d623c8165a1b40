// `test` blocks in VS Code's Testing view: a TestController fed by the language server (`lmp/runTargets`
// lists a file's tests, `lmp/runTests` runs them and streams `lmp/testResult`). Pass/fail marks show in
// the gutter at each test's name; a failed expectation is a message at its own line.
import * as vscode from 'vscode';
import { LanguageClient } from 'vscode-languageclient/node';
import type { RunResult, RunTarget } from './playground';

interface Range {
  start: { line: number; character: number };
  end: { line: number; character: number };
}

interface Target extends RunTarget {
  range: Range;
}

function toRange(r: Range): vscode.Range {
  return new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
}

const MAX_WORKSPACE_FILES = 200;

export class LmpTests implements vscode.Disposable {
  readonly controller: vscode.TestController;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Results of the last run of each test, by test item id (for tests and the panel). */
  readonly lastResults = new Map<string, RunResult>();
  private wantWorkspace = false;

  constructor(
    private readonly client: () => LanguageClient | undefined,
    private readonly onResults: (results: RunResult[]) => void,
  ) {
    this.controller = vscode.tests.createTestController('lmp', 'lmp tests');
    // The workspace is scanned when the Testing view asks for it (not at start-up: listing a file's tests
    // analyses it, and a large workspace would delay the diagnostics of the files being edited).
    this.controller.resolveHandler = async (item) => {
      if (!item) {
        this.wantWorkspace = true;
        await this.discoverWorkspace();
      } else {
        await this.refreshFile(item.uri!);
      }
    };
    this.controller.refreshHandler = async () => {
      await this.discoverWorkspace();
    };
    this.controller.createRunProfile('Run', vscode.TestRunProfileKind.Run, (request, token) => this.run(request, token), true);
    this.disposables.push(
      this.controller,
      vscode.workspace.onDidOpenTextDocument((d) => this.schedule(d)),
      vscode.workspace.onDidChangeTextDocument((e) => this.schedule(e.document)),
      vscode.workspace.onDidSaveTextDocument((d) => this.schedule(d, 0)),
      vscode.workspace.onDidDeleteFiles((e) => e.files.forEach((f) => this.controller.items.delete(f.toString()))),
    );
  }

  private schedule(doc: vscode.TextDocument, delay = 500): void {
    if (doc.languageId !== 'lmp' || doc.uri.scheme !== 'file') {
      return;
    }
    const key = doc.uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        void this.refreshFile(doc.uri);
      }, delay),
    );
  }

  /** The server (re)started: list the tests of the open files, and of the workspace once the view asked. */
  async serverReady(): Promise<void> {
    if (this.wantWorkspace) {
      await this.discoverWorkspace();
      return;
    }
    for (const doc of vscode.workspace.textDocuments) {
      if (doc.languageId === 'lmp' && doc.uri.scheme === 'file') {
        await this.refreshFile(doc.uri);
      }
    }
  }

  /** Every .lmp file of the workspace (bounded) and every open one. */
  async discoverWorkspace(): Promise<void> {
    const files = await vscode.workspace.findFiles('**/*.lmp', '**/{node_modules,.venv,venv,.git}/**', MAX_WORKSPACE_FILES);
    const open = vscode.workspace.textDocuments.filter((d) => d.languageId === 'lmp' && d.uri.scheme === 'file').map((d) => d.uri);
    const seen = new Set<string>();
    for (const uri of [...open, ...files]) {
      if (!seen.has(uri.toString())) {
        seen.add(uri.toString());
        await this.refreshFile(uri);
      }
    }
  }

  /** Ask the server for the tests of one file (nothing runs: listing only reads the program). */
  async refreshFile(uri: vscode.Uri): Promise<vscode.TestItem | undefined> {
    const client = this.client();
    if (!client) {
      return undefined;
    }
    let targets: Target[];
    try {
      const res = await client.sendRequest<{ targets: Target[] }>('lmp/runTargets', { uri: uri.toString() });
      targets = (res?.targets ?? []).filter((t) => t.kind === 'test');
    } catch {
      return undefined; // the file could not be read; its old items stay until it can
    }
    const id = uri.toString();
    if (!targets.length) {
      this.controller.items.delete(id);
      return undefined;
    }
    let file = this.controller.items.get(id);
    if (!file) {
      file = this.controller.createTestItem(id, vscode.workspace.asRelativePath(uri), uri);
      this.controller.items.add(file);
    }
    const children = targets.map((t) => {
      const item = this.controller.createTestItem(`${id}::${t.name}`, t.name, uri);
      item.range = toRange(t.range);
      item.description = `for ${t.target}`;
      return item;
    });
    file.children.replace(children);
    return file;
  }

  private async run(request: vscode.TestRunRequest, token: vscode.CancellationToken): Promise<void> {
    const run = this.controller.createTestRun(request);
    const exclude = new Set((request.exclude ?? []).map((t) => t.id));
    // Group the chosen tests by file: one `lmp/runTests` per file.
    const byFile = new Map<string, { file: vscode.TestItem; tests: vscode.TestItem[] }>();
    const add = (item: vscode.TestItem) => {
      if (exclude.has(item.id)) {
        return;
      }
      if (item.parent === undefined) {
        item.children.forEach(add);
        return;
      }
      const entry = byFile.get(item.parent.id) ?? { file: item.parent, tests: [] };
      entry.tests.push(item);
      byFile.set(item.parent.id, entry);
    };
    if (request.include) {
      request.include.forEach(add);
    } else {
      this.controller.items.forEach(add);
    }
    try {
      for (const { file, tests } of byFile.values()) {
        if (token.isCancellationRequested) {
          tests.forEach((t) => run.skipped(t));
          continue;
        }
        await this.runFile(run, file, tests, token);
      }
    } finally {
      run.end();
    }
  }

  private async runFile(run: vscode.TestRun, file: vscode.TestItem, tests: vscode.TestItem[], token: vscode.CancellationToken): Promise<void> {
    const client = this.client();
    const byName = new Map(tests.map((t) => [t.label, t]));
    tests.forEach((t) => run.started(t));
    if (!client) {
      tests.forEach((t) => run.errored(t, new vscode.TestMessage('The lmp language server is not running.')));
      return;
    }
    const uri = file.uri!.toString();
    const done = new Set<string>();
    const report = (result: RunResult) => {
      const item = byName.get(result.name);
      if (!item || done.has(result.name)) {
        return;
      }
      done.add(result.name);
      result.uri = uri;
      this.lastResults.set(item.id, result);
      this.mark(run, item, result);
    };
    const sub = client.onNotification('lmp/testResult', (p: { uri: string; result: RunResult }) => {
      if (p?.uri === uri) {
        report(p.result);
      }
    });
    try {
      const res = await client.sendRequest<{ results: RunResult[] }>(
        'lmp/runTests',
        { uri, names: tests.map((t) => t.label) },
        token,
      );
      res.results.forEach(report);
      this.onResults(res.results.map((r) => ({ ...r, uri })));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      for (const t of tests) {
        if (!done.has(t.label)) {
          if (token.isCancellationRequested) {
            run.skipped(t);
          } else {
            run.errored(t, new vscode.TestMessage(message));
          }
        }
      }
    } finally {
      sub.dispose();
    }
  }

  private mark(run: vscode.TestRun, item: vscode.TestItem, result: RunResult): void {
    const outputs = result.outputs.map((o) => `${o.name} = ${JSON.stringify(o.value)}`).join(', ');
    run.appendOutput(
      `${result.name}: ${result.status} · ${outputs || 'no outputs'} · ${result.tokens.total} tokens · ` +
        `${Math.round(result.latencyMs)} ms${result.cacheHit ? ' (cached)' : ''}\r\n`,
      undefined,
      item,
    );
    const uri = item.uri!;
    if (result.status === 'pass') {
      run.passed(item, result.latencyMs);
      // Soft `check`s that failed are reported without failing the test.
      for (const e of result.expectations ?? []) {
        if (!e.passed) {
          run.appendOutput(`  check failed: ${e.source}: ${e.message}\r\n`, new vscode.Location(uri, toRange(e.range)), item);
        }
      }
    } else if (result.status === 'fail') {
      const messages = (result.expectations ?? [])
        .filter((e) => !e.passed)
        .map((e) => {
          const m = new vscode.TestMessage(`${e.kind} ${e.source}: ${e.message}`);
          m.location = new vscode.Location(uri, toRange(e.range));
          return m;
        });
      run.failed(item, messages.length ? messages : [new vscode.TestMessage('failed')], result.latencyMs);
    } else if (result.status === 'cancelled') {
      run.skipped(item);
    } else {
      const m = new vscode.TestMessage(result.error?.message ?? 'error');
      m.location = new vscode.Location(uri, item.range ?? new vscode.Range(0, 0, 0, 0));
      run.errored(item, m, result.latencyMs);
    }
  }

  dispose(): void {
    this.timers.forEach((t) => clearTimeout(t));
    this.disposables.forEach((d) => d.dispose());
  }
}
