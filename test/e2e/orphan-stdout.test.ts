/**
 * A daemon whose log reader is gone (its parent died: the stdout pipe has no reader)
 * or stuck (the pipe is full and nobody reads it) must still stop on SIGTERM within
 * its shutdown deadline: logging can never hold the process hostage. What cannot be
 * written is dropped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startDaemon, tmpDataDir } from '../helpers/daemon';

const DEADLINE_MS = 2000;
/** The deadline, plus the margin the daemon gives its last log lines, plus process start-up slack. */
const EXIT_BOUND_MS = DEADLINE_MS + 8000;

function exitsWithin(exited: Promise<number | null>, ms: number): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([exited, new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), ms)))]).finally(() => clearTimeout(timer));
}

test('SIGTERM stops a daemon whose stdout reader is gone (EPIPE), within the shutdown deadline', { timeout: 60_000 }, async () => {
  const dataDir = tmpDataDir();
  const d = await startDaemon(dataDir, { SLUICE_LOG_LEVEL: 'debug', SLUICE_SHUTDOWN_DEADLINE_MS: String(DEADLINE_MS) });
  try {
    // The parent "dies": its end of the pipe is closed, every later write is EPIPE.
    d.proc.stdout!.destroy();
    // Log lines while nobody reads: each API call logs its request.
    for (let i = 0; i < 50; i++) await d.api('/healthz');
    d.proc.kill('SIGTERM');
    const code = await exitsWithin(d.exited, EXIT_BOUND_MS);
    assert.notEqual(code, 'still running', 'the daemon did not exit after SIGTERM');
  } finally {
    d.proc.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('SIGTERM stops a daemon whose stdout pipe is full and never read, within the shutdown deadline', { timeout: 60_000 }, async () => {
  const dataDir = tmpDataDir();
  const d = await startDaemon(dataDir, { SLUICE_LOG_LEVEL: 'trace', SLUICE_SHUTDOWN_DEADLINE_MS: String(DEADLINE_MS) });
  try {
    // A reader that holds the pipe open but reads nothing more: the pipe fills up.
    d.proc.stdout!.removeAllListeners('data');
    d.proc.stdout!.pause();
    // Well past a pipe's buffer (64 KiB) of log lines.
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 150; i++) await d.api(`/api/v1/streams?name=${'x'.repeat(200)}`);
    }));
    d.proc.kill('SIGTERM');
    const code = await exitsWithin(d.exited, EXIT_BOUND_MS);
    assert.notEqual(code, 'still running', 'the daemon did not exit after SIGTERM');
  } finally {
    d.proc.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
