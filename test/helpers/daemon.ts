/**
 * Runs the built `sluice` CLI as an operator would: a child process on a
 * temporary data dir, API on a free port, JSON logs collected for assertions.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { httpRequest } from '../../src/cli/http';

/** dist/src/cli/main.js, from dist/test/helpers. */
export const CLI = path.resolve(__dirname, '../../src/cli/main.js');

export interface ApiAnswer {
  status: number;
  body: any;
}

export interface RunningDaemon {
  proc: ChildProcess;
  /** http://host:port of the API (https:// with api.tls). */
  base: string;
  dataDir: string;
  output: () => string;
  exited: Promise<number | null>;
  /** A call to the API with the daemon's admin key (or `key`). */
  api: (pathname: string, init?: { method?: string; body?: unknown; key?: string; headers?: Record<string, string> }) => Promise<ApiAnswer>;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

export function tmpDataDir(prefix = 'sluice-e2e-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Only what the daemon needs: no SLUICE_* leaking in from the developer's shell. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, SLUICE_LOG_PRETTY: 'false', SLUICE_API_PORT: '0' };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export async function startDaemon(
  dataDir: string,
  extra: Record<string, string | undefined> = {},
  opts: { args?: string[]; nodeArgs?: string[]; timeoutMs?: number; adminKey?: string; /** PEM file of the CA of an HTTPS API. */ ca?: string } = {},
): Promise<RunningDaemon> {
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), CLI, ...(opts.args ?? ['start'])], {
    env: cleanEnv({ SLUICE_DATA_DIR: dataDir, ...(opts.adminKey ? { SLUICE_ADMIN_KEY: opts.adminKey } : {}), ...extra }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The log is kept for error messages (its last 256 KiB) and, with
  // SLUICE_E2E_DAEMON_LOG=<dir>, appended to <dir>/<pid>.log for debugging.
  let out = '';
  const logDir = process.env.SLUICE_E2E_DAEMON_LOG;
  const logFile = logDir ? (fs.mkdirSync(logDir, { recursive: true }), path.join(logDir, `${proc.pid}.log`)) : null;
  const keep = (c: Buffer): void => {
    out = (out + c.toString()).slice(-262144);
    if (logFile) fs.appendFileSync(logFile, c);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const started = Date.now();
  // Generous: a daemon that opens a large store or resumes streams on a loaded 2-core CI machine can take a while.
  const timeoutMs = opts.timeoutMs ?? 30000;
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /"api":"(https?:\/\/[^"]+)".*"msg":"sluice started"/.exec(out);
      if (m?.[1]) {
        clearInterval(timer);
        resolve(m[1]);
      } else if (proc.exitCode !== null || Date.now() - started > timeoutMs) {
        clearInterval(timer);
        proc.kill('SIGKILL');
        reject(new Error(`daemon did not start within ${timeoutMs} ms:\n${out}`));
      }
    }, 20);
  });
  const api: RunningDaemon['api'] = async (pathname, init = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    const key = init.key ?? opts.adminKey;
    if (key) headers['x-api-key'] = key;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const body = init.body === undefined ? undefined : JSON.stringify(init.body);
    if (base.startsWith('https:')) {
      const r = await httpRequest(base + pathname, { method: init.method ?? 'GET', headers, body, ca: opts.ca ? fs.readFileSync(opts.ca) : undefined, timeoutMs: 120_000 });
      return { status: r.status, body: r.text ? JSON.parse(r.text) : undefined };
    }
    const r = await fetch(base + pathname, { method: init.method ?? 'GET', headers, body });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : undefined };
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (proc.exitCode === null) proc.kill(signal);
    return exited;
  };
  return { proc, base, dataDir, output: () => out, exited, api, stop };
}
