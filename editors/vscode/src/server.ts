// Finding and starting `lmp lsp`.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import {
  ErrorCodes,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ResponseError,
  RevealOutputChannelOn,
  ServerOptions,
  TransportKind,
} from 'vscode-languageclient/node';

/** Commands the extension implements itself; never let the server's executeCommandProvider claim them. */
export const CLIENT_COMMANDS = new Set([
  'lmp.previewPrompt',
  'lmp.showOutputSchema',
  'lmp.runModule',
  'lmp.optimize',
  'lmp.restartServer',
  'lmp.run',
  'lmp.serverMenu',
]);

export const INSTALL_HINT =
  'Install lmp into the Python environment VS Code uses: `pip install -e .` in a checkout of the lmp repository ' +
  '(or `pip install lmp`), then check that `lmp lsp --help` works in a terminal. If `lmp` is in a virtualenv, ' +
  'set `lmp.server.command` to its absolute path (e.g. `/path/to/.venv/bin/lmp`).';

function isExecutableFile(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) {
      return false;
    }
    if (process.platform === 'win32') {
      return true;
    }
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function expand(value: string): string {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '';
  return value
    .replace(/^~(?=$|[\\/])/, os.homedir())
    .replace(/\$\{workspaceFolder\}/g, folder)
    .replace(/\$\{userHome\}/g, os.homedir());
}

/**
 * Resolve the configured `lmp` command to an executable path, or undefined when it cannot be found.
 * Looks at an absolute/relative path, then PATH, then a `.venv`/`venv` in the workspace folders.
 */
export function resolveLmpCommand(configured: string): string | undefined {
  const command = expand(configured.trim() || 'lmp');
  const exts = process.platform === 'win32' ? ['', '.exe', '.cmd', '.bat'] : [''];
  if (path.isAbsolute(command) || command.includes('/') || command.includes('\\')) {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const abs = path.isAbsolute(command) ? command : path.resolve(folder ?? process.cwd(), command);
    return exts.map((e) => abs + e).find(isExecutableFile);
  }
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    for (const venv of ['.venv', 'venv']) {
      dirs.push(path.join(folder.uri.fsPath, venv, process.platform === 'win32' ? 'Scripts' : 'bin'));
    }
  }
  for (const dir of dirs) {
    for (const e of exts) {
      const candidate = path.join(dir, command + e);
      if (isExecutableFile(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

export type ServerStatus = 'starting' | 'running' | 'not-found' | 'failed' | 'stopped';

export function createClient(
  executable: string,
  args: string[],
  outputChannel: vscode.LogOutputChannel,
): LanguageClient {
  const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  // TransportKind.stdio makes the client append `--stdio` to args.
  const serverOptions: ServerOptions = {
    command: executable,
    args,
    transport: TransportKind.stdio,
    options: cwd ? { cwd } : undefined,
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'lmp' },
      { scheme: 'untitled', language: 'lmp' },
    ],
    outputChannel,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.{lmp,opt.json}') },
  };
  const client = new LanguageClient('lmp', 'lmp language server', serverOptions, clientOptions);
  // The code lens command `lmp.previewPrompt` is implemented here (it opens a panel). If the server also
  // advertises it in executeCommandProvider, registering it twice would fail the client's start.
  const feature = client.getFeature(ExecuteCommandRequest.method) as unknown as {
    register(data: { id: string; registerOptions: { commands?: string[] } }): void;
  };
  const register = feature.register.bind(feature);
  feature.register = (data) =>
    register({
      ...data,
      registerOptions: {
        ...data.registerOptions,
        commands: (data.registerOptions.commands ?? []).filter((c) => !CLIENT_COMMANDS.has(c)),
      },
    });
  return client;
}

/**
 * Send one of lmp's custom requests (`lmp/previewPrompt`, `lmp/outputSchema`). The contract is a custom
 * request; a server that exposes it as a `workspace/executeCommand` command instead is also understood.
 */
export async function lmpRequest<T>(client: LanguageClient, method: string, params: object): Promise<T> {
  try {
    return await client.sendRequest<T>(method, params);
  } catch (err) {
    if (err instanceof ResponseError && err.code === ErrorCodes.MethodNotFound) {
      return (await client.sendRequest(ExecuteCommandRequest.type, {
        command: method,
        arguments: [params],
      })) as T;
    }
    throw err;
  }
}
