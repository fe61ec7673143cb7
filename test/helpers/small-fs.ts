/**
 * A small filesystem of its own (tmpfs) for tests that need writes to really fail: a
 * full disk (`fill`) or a read-only one (`readOnly`). Needs root and permission to mount:
 * `mountSmallFs` answers with the reason to skip when either is missing. `unmount` is
 * idempotent and is also run at process exit, so no path of a test leaves the mount behind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

export interface SmallFs {
  dir: string;
  /** Fills the filesystem to the last byte (a file `filler` in it). */
  fill(): void;
  /** Frees what `fill` took. */
  free(): void;
  /** Remounts it read-only or read-write; the answer is the error the kernel gave, if it refused. */
  remount(mode: 'ro' | 'rw'): string | null;
  unmount(): void;
}

const run = (cmd: string, args: string[]): string | null => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? null : (r.stderr || r.error?.message || `${cmd} exited ${r.status}`).trim();
};

export function mountSmallFs(sizeMb: number): SmallFs | { skip: string } {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { skip: 'not root: mounting a small filesystem needs root' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-smallfs-'));
  const failed = run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', dir]);
  if (failed) {
    fs.rmSync(dir, { recursive: true, force: true });
    return { skip: `mount -t tmpfs is not permitted here: ${failed}` };
  }
  const filler = path.join(dir, 'filler');
  let mounted = true;
  const unmount = (): void => {
    if (!mounted) return;
    mounted = false;
    // Lazy: a process still holding a file in it (a daemon being killed) does not keep it.
    run('umount', ['-l', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', unmount);
  return {
    dir,
    fill() {
      const fd = fs.openSync(filler, 'a');
      try {
        for (const size of [1 << 20, 1 << 16, 4096, 512, 1]) {
          const chunk = Buffer.alloc(size, 0x55);
          for (;;) {
            try {
              fs.writeSync(fd, chunk);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw err;
            }
          }
        }
      } finally {
        fs.closeSync(fd);
      }
    },
    free: () => fs.rmSync(filler, { force: true }),
    remount: (mode) => run('mount', ['-o', `remount,${mode}`, dir]),
    unmount,
  };
}
