/**
 * Connection passwords read from files (`"passwordFile"`), as Docker and Kubernetes
 * mount secrets. An API client names a path on the daemon's host, so the daemon only
 * reads inside one directory the operator allowed (secrets.fileDir): the path, and
 * again the file it resolves to once symbolic links are followed (Kubernetes mounts
 * are links into a timestamped directory), must lie inside it. Nothing else is read,
 * not even to say whether it exists. Only regular files up to 64 KiB. The file is read
 * at each use, so a rotated secret is picked up without an API call; its content is
 * never stored, returned or logged.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SluiceError } from '../errors';

export const MAX_SECRET_FILE_BYTES = 64 * 1024;

const inside = (dir: string, p: string): boolean => {
  const rel = path.relative(dir, p);
  // "..data/x" (Kubernetes' own names) is inside; only ".." itself as a segment leaves.
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
};

/** The field that named the file: `passwordFile` unless the context says another (e.g. options.tls.caFile). */
const fieldOf = (context: Record<string, unknown>): string => (typeof context.field === 'string' ? context.field : 'passwordFile');

function notAllowed(file: string, allowedDir: string, context: Record<string, unknown>): SluiceError {
  const field = fieldOf(context);
  return new SluiceError(
    'SECRET_FILE_NOT_ALLOWED',
    allowedDir
      ? `${field} ${file} is outside ${allowedDir}, the directory this daemon reads secret files from.`
      : `This daemon reads no secret files (${field}): it was started without secrets.fileDir (SLUICE_SECRETS_FILE_DIR).`,
    { field, file, allowedDir: allowedDir || null },
  );
}

function unreadable(file: string, why: string, context: Record<string, unknown>): SluiceError {
  return new SluiceError('SECRET_FILE_UNREADABLE', `Cannot read the file ${file} (${fieldOf(context)}): ${why}.`, { ...context, field: fieldOf(context), file });
}

/**
 * The absolute path `file` names (relative paths are taken from `allowedDir`), after
 * checking it may be read; SECRET_FILE_NOT_ALLOWED or SECRET_FILE_UNREADABLE otherwise.
 */
export function checkSecretFile(file: string, allowedDir: string, context: Record<string, unknown> = {}): { path: string; real: string } {
  if (!allowedDir) throw notAllowed(file, '', context);
  const dir = path.resolve(allowedDir);
  const abs = path.resolve(dir, file);
  if (!inside(dir, abs)) throw notAllowed(file, allowedDir, context);
  let real: string;
  let realDir: string;
  try {
    realDir = fs.realpathSync(dir);
    real = fs.realpathSync(abs);
  } catch (err) {
    throw unreadable(abs, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : ((err as NodeJS.ErrnoException).code ?? 'error'), context);
  }
  if (!inside(realDir, real)) throw notAllowed(file, allowedDir, context);
  let st: fs.Stats;
  try {
    st = fs.statSync(real);
  } catch (err) {
    throw unreadable(abs, (err as NodeJS.ErrnoException).code ?? 'error', context);
  }
  if (!st.isFile()) throw unreadable(abs, 'it is not a regular file', context);
  if (st.size > MAX_SECRET_FILE_BYTES) throw unreadable(abs, `it is larger than ${MAX_SECRET_FILE_BYTES} bytes`, context);
  return { path: abs, real };
}

/** The password in `file`, checked as above; one trailing newline (as `echo` writes) is not part of it. */
export function readPasswordFile(file: string, allowedDir: string, context: Record<string, unknown> = {}): string {
  let checked: { path: string; real: string };
  try {
    checked = checkSecretFile(file, allowedDir, context);
  } catch (err) {
    // At use time the caller is whoever uses the connection, not the admin who named the
    // file: a file no longer allowed (a link re-pointed, the daemon restarted with another
    // secrets.fileDir) is a connection that cannot be used, not a refusal of the caller.
    if ((err as SluiceError).code !== 'SECRET_FILE_NOT_ALLOWED') throw err;
    throw unreadable(file, allowedDir ? `it is no longer inside ${allowedDir} (secrets.fileDir)` : 'this daemon reads no password files (secrets.fileDir is not set)', context);
  }
  const { path: abs, real } = checked;
  let text: string;
  try {
    text = fs.readFileSync(real, 'utf8');
  } catch (err) {
    throw unreadable(abs, (err as NodeJS.ErrnoException).code ?? 'error', context);
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw unreadable(abs, 'it is empty', context);
  return password;
}
