// Extension test suite, run inside a real VS Code (code-server) extension host by test/run-vscode-test.mjs.
//
// The host may report success even when a test throws, so this suite writes its own result file
// (<workspace>/.lmp-test/result.json) with one entry per check: PASS, FAIL or SKIPPED (with a reason).
// Server-dependent checks are SKIPPED only when the runner says `lmp lsp` is not available
// (<workspace>/.lmp-test/config.json, {expectServer, reason}); otherwise they must pass.
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { escapeHtml } from '../../src/preview';

type Status = 'PASS' | 'FAIL' | 'SKIPPED';
interface Check {
  name: string;
  status: Status;
  detail: string;
  ms: number;
}
interface Config {
  expectServer: boolean;
  reason?: string;
  server?: 'lmp' | 'stub';
  screenshotTimeoutMs?: number;
}

const EXTENSION_ID = 'lmp.lmp';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const start = Date.now();
  let last: unknown;
  while (Date.now() - start < timeoutMs) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && (v as unknown) !== false) {
        return v;
      }
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

function assert(cond: unknown, message: string): asserts cond {
  if (!cond) {
    throw new Error(message);
  }
}

export async function run(): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (!folder) {
    throw new Error('no workspace folder open');
  }
  // Check details are read in CI logs and artifacts from other machines: name files relative to the workspace
  // (the runner's temporary copy of test/workspace), not by the absolute path of that copy.
  const workspaceRelative = (p: unknown): unknown =>
    typeof p === 'string' && path.isAbsolute(p) ? path.relative(folder, p) || '.' : p;
  const relativeText = (text: string): string => text.split(folder + path.sep).join('').split(folder).join('.');
  const dir = path.join(folder, '.lmp-test');
  const config: Config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const checks: Check[] = [];
  const resultPath = path.join(dir, 'result.json');
  const started = Date.now();

  function write(done: boolean): void {
    const failed = checks.filter((c) => c.status === 'FAIL').length;
    const body = {
      status: failed ? 'FAIL' : 'PASS',
      done,
      vscodeVersion: vscode.version,
      expectServer: config.expectServer,
      server: config.server ?? 'lmp',
      serverReason: config.reason ?? null,
      elapsedMs: Date.now() - started,
      checks,
    };
    fs.writeFileSync(resultPath + '.tmp', JSON.stringify(body, null, 2));
    fs.renameSync(resultPath + '.tmp', resultPath);
  }

  async function check(name: string, fn: () => Promise<string | void>, needsServer = false): Promise<boolean> {
    const t0 = Date.now();
    if (needsServer && !config.expectServer) {
      checks.push({ name, status: 'SKIPPED', detail: `lmp lsp not available: ${config.reason ?? 'unknown'}`, ms: 0 });
      return false;
    }
    try {
      const detail = relativeText((await fn()) ?? '');
      checks.push({ name, status: 'PASS', detail, ms: Date.now() - t0 });
      return true;
    } catch (err) {
      checks.push({
        name,
        status: 'FAIL',
        detail: relativeText(err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err)),
        ms: Date.now() - t0,
      });
      return false;
    }
  }

  const classifyUri = vscode.Uri.file(path.join(folder, 'classify.lmp'));
  const brokenUri = vscode.Uri.file(path.join(folder, 'broken.lmp'));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let api: any;
  let editor: vscode.TextEditor | undefined;

  await check('language id of an opened .lmp file is "lmp"', async () => {
    const doc = await vscode.workspace.openTextDocument(classifyUri);
    editor = await vscode.window.showTextDocument(doc, vscode.ViewColumn.One);
    assert(doc.languageId === 'lmp', `languageId is ${doc.languageId}`);
    return doc.languageId;
  });

  await check('extension activates and contributes its commands', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert(ext, `extension ${EXTENSION_ID} not found`);
    api = await waitFor('extension activation', async () => (ext.isActive ? ext.exports : await ext.activate()), 20000);
    const all = await vscode.commands.getCommands(true);
    for (const c of ['lmp.previewPrompt', 'lmp.showOutputSchema', 'lmp.runModule', 'lmp.optimize']) {
      assert(all.includes(c), `command ${c} is not registered`);
    }
    return 'active';
  });

  const status: string = api ? await Promise.race([api.whenServerSettled(), sleep(30000).then(() => 'timeout')]) : 'no-api';

  if (!config.expectServer) {
    await check('missing language server is reported clearly', async () => {
      assert(status === 'not-found' || status === 'failed', `server status is ${status}`);
      assert(String(api.serverError ?? '').includes('lmp'), `no clear error: ${api.serverError}`);
      return `${status}: ${api.serverError}`;
    });
  }

  await check(
    'language server starts',
    async () => {
      assert(status === 'running', `server status is ${status}: ${api?.serverError ?? ''}`);
      return `${api.client?.initializeResult?.serverInfo?.name ?? 'server'} running`;
    },
    true,
  );

  await check(
    'diagnostics arrive for a file with an error',
    async () => {
      await vscode.workspace.openTextDocument(brokenUri);
      const diags = await waitFor(
        'diagnostics on broken.lmp',
        () => {
          const d = vscode.languages.getDiagnostics(brokenUri);
          return d.length ? d : undefined;
        },
        20000,
      );
      const errors = diags.filter((d) => d.severity === vscode.DiagnosticSeverity.Error);
      assert(errors.length > 0, `no error-severity diagnostic: ${JSON.stringify(diags.map((d) => d.message))}`);
      const clean = vscode.languages.getDiagnostics(classifyUri).filter((d) => d.severity === vscode.DiagnosticSeverity.Error);
      assert(clean.length === 0, `classify.lmp should have no errors: ${clean.map((d) => d.message).join('; ')}`);
      const code = (d: vscode.Diagnostic) => (typeof d.code === 'object' ? d.code.value : (d.code ?? ''));
      return errors.map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1} ${code(d)} ${d.message}`).join(' | ');
    },
    true,
  );

  await check(
    'hover shows information',
    async () => {
      const doc = await vscode.workspace.openTextDocument(classifyUri);
      const probes: [string, number][] = [
        ['Predict(ClassifyEvent)', 'Predict('.length + 2],
        ['signature ClassifyEvent', 'signature '.length + 2],
        ['let classify', 'let '.length + 2],
        ['in  event', 'in  '.length + 1],
      ];
      const seen: string[] = [];
      for (const [needle, offset] of probes) {
        const at = doc.getText().indexOf(needle);
        if (at < 0) {
          continue;
        }
        const pos = doc.positionAt(at + offset);
        const hovers = await waitFor(
          `hover at ${needle}`,
          async () => (await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', classifyUri, pos)) ?? [],
          3000,
        );
        const text = hovers
          .flatMap((h) => h.contents)
          .map((c) => (typeof c === 'string' ? c : (c as vscode.MarkdownString).value))
          .join('\n')
          .trim();
        if (text) {
          return `at "${needle}": ${text.slice(0, 200)}`;
        }
        seen.push(needle);
      }
      throw new Error(`no hover content at any of: ${seen.join(', ')}`);
    },
    true,
  );

  let lensArgs: unknown[] = [classifyUri.toString(), 'ClassifyEvent'];
  await check(
    'code lens "Preview prompt" is offered',
    async () => {
      let seen = 'none';
      const lenses = await waitFor(
        'code lenses',
        async () => {
          const l = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', classifyUri, 10);
          seen = JSON.stringify((l ?? []).map((x) => x.command ?? null));
          return l && l.some((x) => x.command?.command === 'lmp.previewPrompt') ? l : undefined;
        },
        10000,
      ).catch((err) => {
        throw new Error(`${err.message}; lenses seen: ${seen}`);
      });
      const lens = lenses.find((x) => x.command?.command === 'lmp.previewPrompt')!;
      assert(Array.isArray(lens.command!.arguments) && lens.command!.arguments.length >= 2, 'lens has no [uri, predictor] arguments');
      lensArgs = lens.command!.arguments!;
      return `${lenses.length} lens(es); "${lens.command!.title}" ${JSON.stringify(lensArgs)}`;
    },
    true,
  );

  await check(
    'preview command returns the rendered prompt and shows the panel',
    async () => {
      if (editor) {
        await vscode.window.showTextDocument(editor.document, vscode.ViewColumn.One);
      }
      const out = await vscode.commands.executeCommand<{ result?: any; error?: string; html: string }>('lmp.previewPrompt', ...lensArgs);
      assert(out, 'command returned nothing');
      assert(!out.error, `preview error: ${out.error}`);
      const r = out.result;
      assert(r && Array.isArray(r.messages) && r.messages.length > 0, `no messages: ${JSON.stringify(r)}`);
      const all = r.messages.map((m: any) => String(m.content)).join('\n');
      assert(r.messages.every((m: any) => typeof m.role === 'string'), 'a message without a role');
      assert(all.includes('event'), 'the input field `event` does not appear in the prompt');
      assert(all.includes('Classify historic events'), 'the instructions do not appear in the prompt');
      assert(out.html.includes('<pre>') && out.html.includes('Content-Security-Policy'), 'panel html lacks <pre> or a CSP');
      for (const m of r.messages) {
        assert(out.html.includes(`<pre>${escapeHtml(m.content)}</pre>`), `message content not shown escaped: ${String(m.content).slice(0, 80)}`);
      }
      assert(!/<script/i.test(out.html), 'panel html contains a script');
      assert(api.preview.visible, 'preview panel is not visible');
      return `${r.messages.length} messages (${r.messages.map((m: any) => m.role).join(', ')}), example=${r.example}, state=${workspaceRelative(r.state)}`;
    },
    true,
  );

  await check(
    'preview refreshes when the document changes',
    async () => {
      assert(editor, 'no editor');
      const doc = editor.document;
      const at = doc.getText().indexOf('Classify historic events.');
      assert(at >= 0, 'docstring not found');
      const start = doc.positionAt(at + 'Classify historic events'.length);
      const edited = await editor.edit((e) => e.insert(start, ' in one word (edited)'));
      assert(edited, 'edit was not applied');
      await waitFor(
        'the preview to show the edited instructions',
        () => api.preview.lastResult?.messages?.some((m: any) => String(m.content).includes('(edited)')),
        10000,
      );
      assert(api.preview.lastHtml.includes('(edited)'), 'panel html not updated');
      return 'updated';
    },
    true,
  );

  await check(
    'output schema command returns a JSON Schema',
    async () => {
      const r = await vscode.commands.executeCommand<any>('lmp.showOutputSchema', classifyUri.toString(), 'ClassifyEvent');
      assert(r && r.schema && typeof r.schema === 'object', `no schema: ${JSON.stringify(r)}`);
      const text = JSON.stringify(r.schema);
      assert(text.includes('category') && text.includes('confidence'), `schema lacks the output fields: ${text.slice(0, 300)}`);
      const shown = vscode.window.visibleTextEditors.some((e) => e.document.uri.scheme === 'lmp-schema');
      assert(shown, 'schema document not shown');
      return text.slice(0, 200);
    },
    true,
  );

  await check('"Run module" and "Optimize..." send the CLI command to an "lmp" terminal', async () => {
    const run = await vscode.commands.executeCommand<string>('lmp.runModule', classifyUri, { args: '-i event="x"', execute: false });
    assert(typeof run === 'string' && run.includes(' run ') && run.includes('classify.lmp') && run.endsWith('-i event="x"'), `run: ${run}`);
    const opt = await vscode.commands.executeCommand<string>('lmp.optimize', classifyUri, {
      train: 'train.jsonl', dev: '', metric: 'exact_match', optimizer: 'mipro', output: 'out.opt.json', execute: false,
    });
    assert(
      typeof opt === 'string' && /optimize \S*classify\.lmp --train train\.jsonl --metric exact_match --optimizer mipro -o out\.opt\.json$/.test(opt),
      `optimize: ${opt}`,
    );
    assert(vscode.window.terminals.some((t) => t.name === 'lmp'), 'no "lmp" terminal');
    return `${run} | ${opt}`;
  });

  // Leave the preview in front for the runner's screenshot.
  if (api?.preview?.visible && editor) {
    await vscode.commands.executeCommand('workbench.action.closeEditorsInOtherGroups').then(undefined, () => undefined);
    await vscode.commands.executeCommand('lmp.previewPrompt', ...lensArgs).then(undefined, () => undefined);
  }
  write(true);

  // Wait (bounded) until the runner has taken its screenshot, then let the host finish.
  const marker = path.join(dir, 'screenshot-done');
  const deadline = Date.now() + (config.screenshotTimeoutMs ?? 20000);
  while (!fs.existsSync(marker) && Date.now() < deadline) {
    await sleep(100);
  }
}
