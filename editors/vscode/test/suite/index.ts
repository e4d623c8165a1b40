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
  const resultPath = path.join(dir, 'result.json');
  // The suite reloads the window once (to check that the preview panel comes back); the host then runs
  // it again from the start: the second pass carries the first pass's checks over and only checks the restore.
  const reloadMarker = path.join(dir, 'reloaded');
  const afterReload = fs.existsSync(reloadMarker);
  const checks: Check[] = afterReload ? JSON.parse(fs.readFileSync(resultPath, 'utf8')).checks : [];
  const started = afterReload ? Date.now() - Number(fs.readFileSync(reloadMarker, 'utf8')) : Date.now();

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

  /** Ask the runner for a screenshot of the workbench now (artifacts/NAME.png); waits until it is taken. */
  async function screenshot(name: string): Promise<void> {
    fs.writeFileSync(path.join(dir, `shot-${name}.req`), '');
    const deadline = Date.now() + 20000;
    while (!fs.existsSync(path.join(dir, `shot-${name}.done`)) && Date.now() < deadline) {
      await sleep(100);
    }
  }

  const classifyUri = vscode.Uri.file(path.join(folder, 'classify.lmp'));
  const playgroundUri = vscode.Uri.file(path.join(folder, 'playground.lmp'));
  const realServer = config.server !== 'stub';
  const brokenUri = vscode.Uri.file(path.join(folder, 'broken.lmp'));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let api: any;
  let editor: vscode.TextEditor | undefined;

  if (afterReload) {
    await runAfterReload();
    return;
  }

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
      // each message is collapsible, with a token count and a Copy button
      const summaries = out.html.match(/<details class="msg[^"]*"[^>]*><summary class="role">[^<]*<span class="tokens">≈?\d+ tokens <button class="copy"/g) ?? [];
      assert(summaries.length === r.messages.length, `${summaries.length} collapsible messages with token counts for ${r.messages.length} messages`);
      // lmp's server counts (a hosted model's counts are an estimate); a server that sends none (the stub,
      // an older lmp) gets the panel's own estimate. Either way an estimate is labelled as one.
      if (realServer) {
        assert(r.tokens && r.tokens.perMessage.length === r.messages.length, `no token counts: ${JSON.stringify(r.tokens)}`);
      }
      assert(r.tokens?.method === 'exact' || out.html.includes('(estimate)'), 'an estimated count is not labelled');
      // The only scripts are the panel's own (copy buttons, saved state), allowed by the CSP nonce alone.
      const nonce = /script-src 'nonce-([A-Za-z0-9]+)'/.exec(out.html)?.[1];
      assert(nonce, 'the CSP allows no script nonce');
      const scripts = out.html.match(/<script[^>]*>/gi) ?? [];
      assert(
        scripts.every((t) => t.includes(`nonce="${nonce}"`) || t.includes('type="application/json"')),
        `a script without the nonce: ${scripts.join(' ')}`,
      );
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

  await check('"Optimize..." sends the CLI command to an "lmp" terminal', async () => {
    const opt = await vscode.commands.executeCommand<string>('lmp.optimize', classifyUri, {
      train: 'train.jsonl', dev: '', metric: 'exact_match', optimizer: 'mipro', output: 'out.opt.json', execute: false,
    });
    assert(
      typeof opt === 'string' && /optimize \S*classify\.lmp --train train\.jsonl --metric exact_match --optimizer mipro -o out\.opt\.json$/.test(opt),
      `optimize: ${opt}`,
    );
    assert(vscode.window.terminals.some((t) => t.name === 'lmp'), 'no "lmp" terminal');
    return opt;
  });

  if (realServer) {
    await playgroundChecks();
  }

  if (realServer && config.expectServer && api?.preview?.visible) {
    // Reload the window with the panel open: the host runs this suite again (see afterReload).
    write(false);
    fs.writeFileSync(path.join(dir, 'before-reload.json'), JSON.stringify({ target: api.preview.currentTarget, runs: api.playground.runs.length }));
    fs.writeFileSync(reloadMarker, String(Date.now() - started));
    await vscode.commands.executeCommand('workbench.action.reloadWindow');
    return;
  }
  await finish();

  async function finish(): Promise<void> {
    // Leave the preview in front for the runner's screenshot.
    if (api?.preview?.visible && editor) {
      await vscode.commands.executeCommand('workbench.action.closeEditorsInOtherGroups').then(undefined, () => undefined);
      await vscode.commands.executeCommand('lmp.previewPrompt', ...lensArgs).then(undefined, () => undefined);
    }
    write(true);
  }

  await waitForFinalScreenshot();

  async function waitForFinalScreenshot(): Promise<void> {
    // Wait (bounded) until the runner has taken its screenshot, then let the host finish.
    const marker = path.join(dir, 'screenshot-done');
    const deadline = Date.now() + (config.screenshotTimeoutMs ?? 20000);
    while (!fs.existsSync(marker) && Date.now() < deadline) {
      await sleep(100);
    }
  }

  async function playgroundChecks(): Promise<void> {
    const doc = await vscode.workspace.openTextDocument(playgroundUri);
    await vscode.window.showTextDocument(doc, vscode.ViewColumn.One);
    let runArgs: any[] = [];

    await check(
      'code lenses "▶ Run" / "▶ Run test" are offered; opening runs nothing',
      async () => {
        let seen = 'none';
        const lenses = await waitFor(
          'run lenses',
          async () => {
            const l = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', playgroundUri, 20);
            seen = JSON.stringify((l ?? []).map((x) => x.command?.title ?? null));
            return l && l.filter((x) => x.command?.command === 'lmp.run').length >= 4 ? l : undefined;
          },
          15000,
        ).catch((err) => {
          throw new Error(`${err.message}; lenses seen: ${seen}`);
        });
        const runs = lenses.filter((x) => x.command?.command === 'lmp.run').map((x) => x.command!);
        const titles = runs.map((c) => `${c.title} ${c.arguments?.[1]?.kind}:${c.arguments?.[1]?.name}`);
        for (const want of ['▶ Run module:Classify', '▶ Run signature:Judge', '▶ Run test test:battle', '▶ Run test test:flight']) {
          assert(titles.includes(want), `no lens "${want}": ${titles.join(', ')}`);
        }
        runArgs = runs.find((c) => c.arguments?.[1]?.kind === 'module')!.arguments!;
        assert(api.playground.runs.length === 0, 'something ran on open');
        return titles.join(', ');
      },
      true,
    );

    await check(
      '▶ Run on a module runs it through the server and shows typed results next to the prompt',
      async () => {
        const terminals = vscode.window.terminals.length;
        const r = await vscode.commands.executeCommand<any>('lmp.run', ...runArgs, { inputs: { event: 'Battle of Nineveh' } });
        assert(r, `no result (last error: ${api.preview.lastError})`);
        assert(r.status === 'ok', `status ${r.status}: ${JSON.stringify(r.error)}`);
        const outs = Object.fromEntries(r.outputs.map((o: any) => [o.name, o]));
        assert(outs.category?.value === 'Wars and Conflicts' && outs.category?.type === 'Category', `category: ${JSON.stringify(outs.category)}`);
        assert(outs.confidence?.value === 0.9 && outs.confidence?.type === 'float', `confidence: ${JSON.stringify(outs.confidence)}`);
        assert(r.tokens.total > 0 && r.calls.length === 1, `tokens ${JSON.stringify(r.tokens)}`);
        assert(vscode.window.terminals.length === terminals, 'a terminal was opened');
        const html: string = await waitFor('the panel to show the run', () => {
          const h: string = api.preview.lastHtml;
          return h.includes(`id="run-${r.id}"`) && h.includes('Prompt for <code>Classify.judge</code>') ? h : undefined;
        }, 10000);
        for (const text of ['Outputs', '>category<', '>Category<', 'Wars and Conflicts', '>confidence<', '>float<', 'Tokens', 'Latency', 'Cost', 'Cache']) {
          assert(html.includes(text), `panel lacks ${text}`);
        }
        assert(fs.readdirSync(folder!).every((f) => f !== '.lmp_cache'), 'a .lmp_cache folder was written into the workspace');
        await vscode.commands.executeCommand('workbench.action.closeSidebar');
        await vscode.commands.executeCommand('workbench.action.closePanel');
        await screenshot('run-panel');
        return `run ${r.id}: category=${outs.category.value} (${outs.category.type}), confidence=${outs.confidence.value}, ${r.tokens.total} tokens, ${r.latencyMs} ms`;
      },
      true,
    );

    await check(
      'a second run shows the diff against the previous one and the panel keeps both runs',
      async () => {
        const r = await vscode.commands.executeCommand<any>('lmp.run', ...runArgs, { inputs: { event: 'First powered flight' } });
        assert(r && r.diff, `no diff: ${JSON.stringify(r?.diff)}`);
        assert(r.diff.inputsChanged === true && r.diff.changed === false, `diff ${JSON.stringify(r.diff)}`);
        const html: string = api.preview.lastHtml;
        assert(html.includes(`same outputs as run ${r.diff.previousId}`) && html.includes('(inputs changed)'), 'panel shows no diff');
        assert(api.playground.runs.length === 2 && html.includes(`id="run-${r.diff.previousId}"`), 'the previous run is not kept');
        return `run ${r.id} vs ${r.diff.previousId}`;
      },
      true,
    );

    await check(
      '"Run module" goes through the language server (no terminal)',
      async () => {
        const terminals = vscode.window.terminals.map((t) => t.name);
        const r = await vscode.commands.executeCommand<any>('lmp.runModule', playgroundUri, {
          module: 'Classify', inputs: { event: 'Battle of Nineveh' },
        });
        assert(r && r.status === 'ok' && r.kind === 'module' && r.name === 'Classify', `result ${JSON.stringify(r)?.slice(0, 300)}`);
        assert(JSON.stringify(vscode.window.terminals.map((t) => t.name)) === JSON.stringify(terminals), 'a terminal was opened');
        return `run ${r.id}: ${r.outputs.map((o: any) => `${o.name}=${JSON.stringify(o.value)}`).join(', ')}`;
      },
      true,
    );

    await check(
      'a run over HTTP shows the request as cURL; its Copy button copies it; the same run again is a cache hit',
      async () => {
        const httpUri = vscode.Uri.file(path.join(folder!, 'http.lmp'));
        await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(httpUri), vscode.ViewColumn.One);
        const target = { kind: 'signature', name: 'Sort', target: 'Sort', inputs: [{ name: 'event', type: 'str' }], hasInputs: false };
        const inputs = { event: `Battle of Nineveh (${Date.now()})` }; // new to the cache, whatever ran before
        const r = await vscode.commands.executeCommand<any>('lmp.run', httpUri.toString(), target, { inputs });
        assert(r && r.status === 'ok', `run: ${JSON.stringify(r?.error ?? r)}`);
        assert(r.outputs[0].value === 'Wars and Conflicts' && r.cacheHit === false, `outputs ${JSON.stringify(r.outputs)}`);
        assert(/^curl 'http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions'/.test(r.curl), `curl: ${r.curl}`);
        assert(r.curl.includes('"model": "fake-model"') && r.curl.includes(inputs.event), 'the body is not the request sent');
        const button = `button.copy[data-copy="run-${r.id}-curl"]`;
        await waitFor('the cURL in the panel', () => api.preview.lastHtml.includes(`data-copy="run-${r.id}-curl"`), 10000);
        api.preview.lastCopied = undefined;
        fs.writeFileSync(path.join(dir, 'click-curl.req'), button);
        await waitFor('the runner to click Copy', () => fs.existsSync(path.join(dir, 'click-curl.done')), 20000);
        await waitFor('the copied cURL', () => api.preview.lastCopied === r.curl, 5000).catch(() => {
          throw new Error(`copied ${JSON.stringify(api.preview.lastCopied)?.slice(0, 200)}; click: ${fs.readFileSync(path.join(dir, 'click-curl.done'), 'utf8')}`);
        });
        const again = await vscode.commands.executeCommand<any>('lmp.run', httpUri.toString(), target, { inputs });
        assert(again.cacheHit === true && again.cache.hits === 1, `second run: cache ${JSON.stringify(again.cache)}`);
        assert(again.diff?.changed === false && again.diff?.inputsChanged === false, `diff ${JSON.stringify(again.diff)}`);
        return `run ${r.id}: ${r.curl.split('\n')[0]} (copied); run ${again.id}: cached in ${again.latencyMs} ms`;
      },
      true,
    );

    await check(
      'Testing view: running the tests marks one passed and one failed at its expectation',
      async () => {
        const file = await waitFor('the Testing view to list playground.lmp', () => {
          const item = api.tests.controller.items.get(playgroundUri.toString());
          return item && item.children.size === 2 ? item : undefined;
        }, 15000);
        await vscode.commands.executeCommand('workbench.view.testing.focus');
        const before = Date.now();
        await vscode.commands.executeCommand('testing.runAll');
        const results = await waitFor('both test results', () => {
          const b = api.tests.lastResults.get(`${file.id}::battle`);
          const f = api.tests.lastResults.get(`${file.id}::flight`);
          return b && f && b.time * 1000 >= before - 2000 ? { b, f } : undefined;
        }, 20000);
        assert(results.b.status === 'pass', `battle: ${results.b.status} ${JSON.stringify(results.b.expectations)}`);
        assert(results.f.status === 'fail', `flight: ${results.f.status}`);
        const failed = results.f.expectations.filter((e: any) => !e.passed);
        const line = doc.getText().split('\n').findIndex((l) => l.includes('expect category == "Science and Innovation"'));
        assert(failed.length === 1 && failed[0].range.start.line === line, `failed expectation at ${JSON.stringify(failed[0]?.range)}, want line ${line}`);
        assert(/Wars and Conflicts/.test(failed[0].message), `message: ${failed[0].message}`);
        const shown = await vscode.window.showTextDocument(doc, vscode.ViewColumn.One);
        // the failed test's gutter mark and its expectation line in view
        shown.revealRange(new vscode.Range(line - 8, 0, line + 2, 0), vscode.TextEditorRevealType.AtTop);
        await vscode.commands.executeCommand('workbench.view.testing.focus');
        await sleep(500);
        await screenshot('testing-view');
        return `battle: pass; flight: fail at line ${line + 1}: ${failed[0].message}`;
      },
      true,
    );

    await check(
      'status bar shows the server state; the "not found" notification closes after a successful restart',
      async () => {
        assert(String(api.statusText).includes('$(check)'), `status bar: ${api.statusText}`);
        const cfg = vscode.workspace.getConfiguration('lmp');
        const good = cfg.get<string>('server.command')!;
        await cfg.update('server.command', path.join(folder!, 'no-such-lmp'), vscode.ConfigurationTarget.Workspace);
        await waitFor('status not-found', () => api.serverStatus === 'not-found', 15000);
        assert(api.problemNotificationOpen, 'no notification about the missing server');
        assert(String(api.statusText).includes('not found'), `status bar: ${api.statusText}`);
        await cfg.update('server.command', good, vscode.ConfigurationTarget.Workspace);
        await waitFor('status running again', () => api.serverStatus === 'running', 30000);
        assert(!api.problemNotificationOpen, 'the "not found" notification is still open after the restart');
        assert(String(api.statusText).includes('$(check)'), `status bar: ${api.statusText}`);
        return 'not-found -> running, notification closed';
      },
      true,
    );
  }

  async function runAfterReload(): Promise<void> {
    await check(
      'the preview panel is restored after a window reload, with its runs',
      async () => {
        const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
        api = await waitFor('extension activation', async () => (ext.isActive ? ext.exports : await ext.activate()), 20000);
        await waitFor('the restored panel', () => api.preview.visible && api.preview.currentTarget && api.preview.lastResult, 30000);
        const before = JSON.parse(fs.readFileSync(path.join(dir, 'before-reload.json'), 'utf8'));
        assert(
          JSON.stringify(api.preview.currentTarget) === JSON.stringify(before.target),
          `target ${JSON.stringify(api.preview.currentTarget)}, before the reload ${JSON.stringify(before.target)}`,
        );
        assert(api.playground.runs.length === before.runs, `${api.playground.runs.length} runs restored of ${before.runs}`);
        assert(api.preview.lastHtml.includes(`id="run-${api.playground.runs[0].id}"`), 'restored runs not shown');
        return `${api.playground.runs.length} runs, prompt ${api.preview.lastResult.predictor}`;
      },
      true,
    );
    editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.scheme === 'file');
    write(true);
    await waitForFinalScreenshot();
  }
}
