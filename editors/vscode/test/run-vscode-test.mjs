#!/usr/bin/env node
// Runs the extension test suite (test/suite/index.ts) in a real VS Code: code-server 4.100.3 (VS Code 1.100)
// on 127.0.0.1, opened by Debian's chromium headless (driven through puppeteer-core, no browser download).
//
// Environment:
//   CODE_SERVER_DIR  where .ci/setup-code-server.sh installed code-server
//                    (default: $LMP_EDITORS_CACHE/code-server, LMP_EDITORS_CACHE default ~/.cache/lmp-editors)
//   LMP_COMMAND      absolute path of `lmp` (default: `command -v lmp`); its `lsp --help` decides whether the
//                    server-dependent checks run (they are SKIPPED, never PASS, when it is missing)
//   CHROMIUM         browser binary (default: chromium)
//   ARTIFACTS_DIR    where the screenshot and result go (default: <repo>/.ci/artifacts/vscode)
//   LMP_VSCODE_TEST_TIMEOUT  overall timeout in seconds (default 200)
//   LMP_ALLOW_SKIP_SERVER=1  allow skipping the server checks although src/lmp/lsp/server.py exists
//   --stub           use test/stub-server/lmp_stub.py (run by $LMP_STUB_PYTHON, default python3, which needs pygls)
//                    instead of the real `lmp lsp`: checks the client against the documented contract alone
// Exit code: 0 only if the suite wrote a result file with status PASS.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const extDir = path.resolve(here, '..');
const repo = path.resolve(extDir, '..', '..');
const t0 = Date.now();
const log = (...a) => console.log(`[vscode-test ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const overallMs = Number(process.env.LMP_VSCODE_TEST_TIMEOUT ?? 200) * 1000;

const cacheDir = process.env.LMP_EDITORS_CACHE ?? path.join(os.homedir(), '.cache', 'lmp-editors');
const codeServerDir = process.env.CODE_SERVER_DIR ?? path.join(cacheDir, 'code-server');
const entry = path.join(codeServerDir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const chromium = process.env.CHROMIUM ?? 'chromium';
const stub = process.argv.includes('--stub');
const artifacts = process.env.ARTIFACTS_DIR ?? path.join(repo, '.ci', 'artifacts', stub ? 'vscode-stub' : 'vscode');

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v "${cmd}"`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

async function webviewShowsText(page) {
  for (const frame of page.frames()) {
    try {
      const text = await frame.evaluate(() => (document.querySelector('#run-results, .run, h1, h2, table') ? document.body.innerText : ''));
      if (frame !== page.mainFrame() && text.trim().length > 40) {
        return true;
      }
    } catch {
      /* frame detached or not ready */
    }
  }
  return false;
}

function fail(msg) {
  console.error(`[vscode-test] FAIL: ${msg}`);
  process.exit(1);
}

if (!fs.existsSync(entry)) {
  fail(`code-server not found at ${entry}; run bash .ci/setup-code-server.sh ${codeServerDir} (or bash .ci/editors.sh --install)`);
}
const chromiumPath = path.isAbsolute(chromium) ? chromium : which(chromium);
if (!chromiumPath) {
  fail(`${chromium} not found (apt-get install -y chromium)`);
}

// 1. Build the extension and the suite.
{
  const r = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: extDir, stdio: 'inherit' });
  if (r.status !== 0) {
    fail('esbuild failed');
  }
}

// 2. Is `lmp lsp` there?
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lmp-vscode-test-'));
let lmp = process.env.LMP_COMMAND || which('lmp');
if (stub) {
  const py = process.env.LMP_STUB_PYTHON || which('python3') || 'python3';
  lmp = path.join(tmp, 'bin', 'lmp');
  fs.mkdirSync(path.dirname(lmp));
  fs.writeFileSync(lmp, `#!/bin/sh\nexec '${py}' '${path.join(extDir, 'test', 'stub-server', 'lmp_stub.py')}' "$@"\n`, { mode: 0o755 });
}
let expectServer = false;
let reason;
if (!lmp) {
  reason = '`lmp` is not on PATH (and LMP_COMMAND is not set)';
} else {
  lmp = path.resolve(lmp);
  const r = spawnSync(lmp, ['lsp', '--help'], { encoding: 'utf8', timeout: 30000 });
  if (r.status === 0) {
    expectServer = true;
  } else {
    reason = `\`${lmp} lsp --help\` exited ${r.status}: ${(r.stderr || r.stdout || '').trim().split('\n').slice(-1)[0]}`;
  }
}
// Once the server is in the source tree its checks must run: a missing `lmp` is then an error, not a skip.
const serverInTree = fs.existsSync(path.join(repo, 'src', 'lmp', 'lsp', 'server.py'));
if (!stub && !expectServer && serverInTree && !process.env.LMP_ALLOW_SKIP_SERVER) {
  fail(
    `src/lmp/lsp/server.py exists but the server cannot be started (${reason}). Install lmp (pip install -e .) ` +
      'and put it on PATH or in LMP_COMMAND; LMP_ALLOW_SKIP_SERVER=1 skips the server checks instead.',
  );
}
if (stub && !expectServer) {
  fail(`the stub server does not start: ${reason}`);
}
log(expectServer ? `server: ${lmp} lsp${stub ? ' (stub)' : ''}` : `server checks will be SKIPPED: ${reason}`);

// 3. A fresh workspace + VS Code profile.
const ws = path.join(tmp, 'ws');
fs.mkdirSync(path.join(ws, '.vscode'), { recursive: true });
fs.mkdirSync(path.join(ws, '.lmp-test'));
for (const f of fs.readdirSync(path.join(extDir, 'test', 'workspace'))) {
  fs.copyFileSync(path.join(extDir, 'test', 'workspace', f), path.join(ws, f));
}
// A loopback OpenAI-compatible fake model for the playground's HTTP checks (request as cURL, cache hits):
// "Wars and Conflicts" when the input mentions Nineveh, else "Science and Innovation"; streams when asked.
const fakeModel = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => (raw += c));
  req.on('end', () => {
    let body = {};
    try {
      body = JSON.parse(raw || '{}');
    } catch {
      /* answered below */
    }
    const user = (body.messages ?? []).filter((m) => m.role === 'user').map((m) => String(m.content)).join(' ');
    const category = /Nineveh/.test(user) ? 'Wars and Conflicts' : 'Science and Innovation';
    const text = `[[ ## category ## ]]\n${category}\n\n[[ ## completed ## ]]`;
    const usage = { prompt_tokens: Math.ceil(raw.length / 4), completion_tokens: 9, total_tokens: Math.ceil(raw.length / 4) + 9 };
    if (!req.url.endsWith('/chat/completions')) {
      res.writeHead(404).end('{}');
      return;
    }
    if (body.stream) {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      for (const piece of text.split(/(?<=\s)/)) {
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: piece } }] })}\n\n`);
      }
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage })}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage }));
  });
});
await new Promise((resolve) => fakeModel.listen(0, '127.0.0.1', resolve));
fakeModel.unref();
fs.writeFileSync(
  path.join(ws, 'http.lmp'),
  fs.readFileSync(path.join(extDir, 'test', 'fixtures', 'http.lmp.tmpl'), 'utf8')
    .replace('{{API_BASE}}', `http://127.0.0.1:${fakeModel.address().port}/v1`),
);

const settings = {
  // The extension host's PATH is rebuilt from a login shell: give the server as an absolute path.
  'lmp.server.command': lmp ?? path.join(tmp, 'no-lmp-here', 'lmp'),
  'lmp.preview.debounceMs': 150,
  'files.autoSave': 'off',
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'npm.autoDetect': 'off',
  'editor.codeLens': true,
};
fs.writeFileSync(path.join(ws, '.vscode', 'settings.json'), JSON.stringify(settings, null, 2));
fs.writeFileSync(
  path.join(ws, '.lmp-test', 'config.json'),
  JSON.stringify({ expectServer, reason: reason ?? null, server: stub ? 'stub' : 'lmp', screenshotTimeoutMs: 20000 }),
);
const userData = path.join(tmp, 'user-data');
fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
fs.writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
const resultFile = path.join(ws, '.lmp-test', 'result.json');

const port = await new Promise((resolve, reject) => {
  const s = net.createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});

// 4. code-server.
const csLog = fs.openSync(path.join(tmp, 'code-server.log'), 'w');
const cs = spawn(
  process.execPath,
  [
    entry,
    '--bind-addr', `127.0.0.1:${port}`,
    '--auth', 'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--config', path.join(tmp, 'code-server.yaml'),
    '--user-data-dir', userData,
    '--extensions-dir', path.join(tmp, 'extensions'),
    ws,
  ],
  {
    env: { ...process.env, EXTENSIONS_GALLERY: '{}', VSCODE_PROXY_URI: '' },
    stdio: ['ignore', csLog, csLog],
    detached: true,
  },
);
let browser;
let cleaned = false;
async function cleanup() {
  if (cleaned) {
    return;
  }
  cleaned = true;
  try {
    await browser?.close();
  } catch {
    /* ignore */
  }
  try {
    process.kill(-cs.pid, 'SIGTERM');
  } catch {
    /* ignore */
  }
}
const watchdog = setTimeout(async () => {
  console.error(`[vscode-test] FAIL: overall timeout (${overallMs / 1000}s)`);
  dumpLogs();
  await cleanup();
  process.exit(1);
}, overallMs);
process.on('SIGINT', async () => {
  await cleanup();
  process.exit(130);
});

function dumpLogs() {
  try {
    const text = fs.readFileSync(path.join(tmp, 'code-server.log'), 'utf8');
    console.error('--- code-server log (tail) ---\n' + text.split('\n').slice(-40).join('\n'));
  } catch {
    /* ignore */
  }
}

async function waitHttp(url, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cs.exitCode !== null) {
      throw new Error(`code-server exited with ${cs.exitCode}`);
    }
    try {
      const r = await fetch(url);
      if (r.ok) {
        return;
      }
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

let exitCode = 1;
try {
  await waitHttp(`http://127.0.0.1:${port}/healthz`, 30000);
  log(`code-server up on 127.0.0.1:${port}`);

  // 5. Chromium, with the extension under development and the suite.
  const remote = (p) => `vscode-remote://127.0.0.1:${port}${p}`;
  const payload = [
    ['extensionDevelopmentPath', remote(extDir)],
    ['extensionTestsPath', remote(path.join(extDir, 'out', 'test', 'suite', 'index.js'))],
    ['skipWelcome', 'true'],
    ['skipReleaseNotes', 'true'],
  ];
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(ws)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const { default: puppeteer } = await import('puppeteer-core');
  browser = await puppeteer.launch({
    executablePath: chromiumPath,
    headless: true,
    userDataDir: path.join(tmp, 'chromium'),
    defaultViewport: { width: 1400, height: 900 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      '--window-size=1400,900',
    ],
  });
  const page = await browser.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 30000 });
  log('workbench loading');

  // 6. Wait for the suite's result file (done=true). Meanwhile the suite may ask for screenshots of the
  // workbench at chosen moments: it writes .lmp-test/shot-NAME.req and waits for shot-NAME.done.
  fs.mkdirSync(artifacts, { recursive: true });
  const shots = [];
  let result;
  while (!result) {
    for (const f of fs.readdirSync(path.join(ws, '.lmp-test'))) {
      const m = /^shot-([\w-]+)\.req$/.exec(f);
      if (!m) {
        continue;
      }
      const shot = path.join(artifacts, `${m[1]}.png`);
      try {
        await new Promise((r) => setTimeout(r, 400)); // let the webview and the editor paint
        // A webview repaints asynchronously (and after a layout change, e.g. closing the side bar): wait,
        // bounded, until a webview frame shows text, so the picture is not of an empty panel.
        for (let attempt = 0; attempt < 50 && !(await webviewShowsText(page)); attempt++) {
          await new Promise((r) => setTimeout(r, 200));
        }
        await page.screenshot({ path: shot });
        shots.push(shot);
        log(`screenshot: ${shot}`);
      } catch (err) {
        log(`screenshot ${m[1]} failed: ${err}`);
      }
      fs.renameSync(path.join(ws, '.lmp-test', f), path.join(ws, '.lmp-test', `shot-${m[1]}.done`));
    }
    // .lmp-test/click-NAME.req holds a CSS selector: click the first match in any frame (the webview's).
    for (const f of fs.readdirSync(path.join(ws, '.lmp-test'))) {
      const m = /^click-([\w-]+)\.req$/.exec(f);
      if (!m) {
        continue;
      }
      const selector = fs.readFileSync(path.join(ws, '.lmp-test', f), 'utf8').trim();
      let clicked = false;
      // The webview repaints asynchronously after its html changes: look for a few seconds.
      for (let attempt = 0; attempt < 40 && !clicked; attempt++) {
        for (const frame of page.frames()) {
          try {
            const el = await frame.$(selector);
            if (el) {
              await el.evaluate((e) => e.scrollIntoView());
              await el.click();
              clicked = true;
              break;
            }
          } catch {
            /* frame detached or not ready */
          }
        }
        if (!clicked) {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      log(`click ${selector}: ${clicked}`);
      fs.writeFileSync(path.join(ws, '.lmp-test', `click-${m[1]}.done`), String(clicked));
      fs.rmSync(path.join(ws, '.lmp-test', f));
    }
    if (fs.existsSync(resultFile)) {
      try {
        const r = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
        if (r.done) {
          result = r;
          break;
        }
      } catch {
        /* partially written */
      }
    }
    if (cs.exitCode !== null) {
      throw new Error(`code-server exited with ${cs.exitCode}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  log(`suite finished in ${(result.elapsedMs / 1000).toFixed(1)}s on VS Code ${result.vscodeVersion}`);

  // 7. Screenshot of the workbench with the preview panel, then release the suite.
  // Wait (bounded) until the preview webview has painted its messages, then take the picture.
  let painted = false;
  const paintDeadline = Date.now() + (result.checks.some((c) => c.name.startsWith('preview') && c.status === 'PASS') ? 10000 : 1500);
  while (Date.now() < paintDeadline && !painted) {
    for (const frame of page.frames()) {
      try {
        if (await frame.evaluate(() => !!document.querySelector('.msg'))) {
          painted = true;
          break;
        }
      } catch {
        /* frame detached or not ready */
      }
    }
    if (!painted) {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  log(`preview webview painted: ${painted} (${page.frames().length} frames)`);
  await new Promise((r) => setTimeout(r, 300));
  const shot = path.join(artifacts, 'preview-panel.png');
  await page.screenshot({ path: shot });
  fs.writeFileSync(path.join(ws, '.lmp-test', 'screenshot-done'), '');
  fs.writeFileSync(path.join(artifacts, 'result.json'), JSON.stringify(result, null, 2));
  fs.writeFileSync(path.join(artifacts, 'browser-console.log'), consoleLines.join('\n'));
  log(`screenshot: ${shot}`);

  for (const c of result.checks) {
    const first = String(c.detail).split('\n')[0].slice(0, 220);
    console.log(`  ${c.status.padEnd(7)} ${c.name}${first ? ` — ${first}` : ''}`);
    if (c.status === 'FAIL') {
      console.log(String(c.detail).split('\n').slice(1, 6).map((l) => `           ${l}`).join('\n'));
    }
  }
  const n = (s) => result.checks.filter((c) => c.status === s).length;
  console.log(`vscode${stub ? ' (stub server)' : ''}: ${n('PASS')} passed, ${n('FAIL')} failed, ${n('SKIPPED')} skipped`);
  exitCode = result.status === 'PASS' && n('FAIL') === 0 ? 0 : 1;
  if (exitCode) {
    dumpLogs();
  }
} catch (err) {
  console.error(`[vscode-test] FAIL: ${err instanceof Error ? err.stack : err}`);
  dumpLogs();
  exitCode = 1;
} finally {
  clearTimeout(watchdog);
  await cleanup();
  if (!process.env.LMP_KEEP_TMP) {
    fs.rmSync(tmp, { recursive: true, force: true });
  } else {
    log(`kept ${tmp}`);
  }
}
log(exitCode === 0 ? 'PASS' : 'FAIL');
process.exit(exitCode);
