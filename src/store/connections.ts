/**
 * Connections. The password is taken out of the URL (or the body) and stored
 * encrypted apart from it; it is only put back for the runtime, never for the API.
 * Or the connection names a password file (a mounted secret, secret-files.ts), read
 * each time the connection is resolved, never stored.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import type { Db } from './db';
import type { SecretBox } from './secrets';
import { listRows, nowIso, parseJson, type ListQuery, type Page } from './list';
import type { ConnectionSpec } from '../core';
import { connectionFieldsOf, type StreamInput } from './streams';
import { SluiceError } from '../errors';
import { checkSecretFile, readPasswordFile } from './secret-files';
import { optionFileConflict, tlsFiles, urlTlsFiles, withTlsFiles } from '../connection-tls';
import { assertNameFree, nameTakenIn } from './names';
import { formatConnectionUrl, parseConnectionUrl, splitConnectionUrl, type ConnectionUrl, type UrlKind } from '../connection-url';

export interface ConnectionInput {
  name: string;
  kind: string;
  url: string;
  password?: string;
  /** A file holding the password, inside secrets.fileDir; null (on update) drops it. */
  passwordFile?: string | null;
  savePassword?: boolean;
  options?: Record<string, unknown>;
}

/** What the API may show: no password, ever. */
export interface ConnectionRecord {
  id: string;
  name: string;
  kind: string;
  url: string;
  hasPassword: boolean;
  /** The file the password is read from at each use, or null. */
  passwordFile: string | null;
  savePassword: boolean;
  options: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

interface Raw {
  id: string;
  name: string;
  kind: string;
  url: string;
  secret: string | null;
  save_password: number;
  password_file: string | null;
  options: string;
  created_at: string;
  updated_at: string;
}

const LIST = {
  table: 'connections',
  columns: { id: 'id', name: 'name', kind: 'kind', createdAt: 'created_at', updatedAt: 'updated_at' },
  defaultSort: 'createdAt',
};

/**
 * Splits the password out of a URL (src/connection-url.ts has the rules of every form);
 * CONNECTION_URL_INVALID naming `field` when the URL cannot be read safely: such a URL
 * is refused, never stored with its password.
 */
export function splitPassword(url: string, kind?: string, field = 'url'): { url: string; password?: string } {
  return splitConnectionUrl(url, urlKind(kind), field);
}

/** The URL with its password put back (encoded), for the runtime only. */
export function joinPassword(url: string, password: string | undefined): string {
  if (password === undefined) return url;
  let parsed: ConnectionUrl;
  try {
    parsed = parseConnectionUrl(url);
  } catch {
    return url; // never stored by this version: left as the connector will read it
  }
  return formatConnectionUrl(parsed, password);
}

/** Whether a URL names a user (and so would carry a password). */
function hasUser(url: string): boolean {
  try {
    return parseConnectionUrl(url).user !== undefined;
  } catch {
    return false;
  }
}

const urlKind = (kind: string | undefined): UrlKind | undefined =>
  kind === 'postgresql' || kind === 'mysql' || kind === 'mongodb' || kind === 'kafka' ? kind : undefined;

function toRecord(r: Raw): ConnectionRecord {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    url: r.url,
    hasPassword: r.secret !== null || r.password_file !== null,
    passwordFile: r.password_file,
    savePassword: r.save_password === 1,
    // Secret options are never shown, not even encrypted.
    options: mapSealed(parseJson(r.options, {}), () => undefined) as Record<string, unknown>,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A secret option's value as stored: encrypted JSON. */
interface Sealed {
  $sealed: string;
}
const isSealed = (v: unknown): v is Sealed => v !== null && typeof v === 'object' && typeof (v as Sealed).$sealed === 'string' && Object.keys(v).length === 1;

function getPath(o: Record<string, unknown>, path: string[]): unknown {
  let node: unknown = o;
  for (const p of path) node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[p] : undefined;
  return node;
}

function setPath(o: Record<string, unknown>, path: string[], value: unknown): void {
  let node = o;
  for (const p of path.slice(0, -1)) {
    if (node[p] === null || typeof node[p] !== 'object') node[p] = {};
    node = node[p] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** A copy of stored options with every sealed value replaced by `f(sealed)`, or left out when f gives undefined. */
function mapSealed(v: unknown, f: (s: Sealed) => unknown): unknown {
  if (isSealed(v)) return f(v);
  if (Array.isArray(v)) return v.map((x) => mapSealed(x, f));
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const m = mapSealed(x, f);
    if (m !== undefined) out[k] = m;
  }
  return out;
}

export interface ConnectionRepoOptions {
  /** secrets.fileDir: where password files may be; empty: none may be named. */
  secretFileDir?: string;
  /**
   * The dotted paths of a connection kind's secret options (declared `x-secret`), which
   * are stored encrypted like passwords and never shown; none when left out.
   */
  secretOptions?: (kind: string) => readonly string[];
}

export function createConnectionRepo(db: Db, box: SecretBox, opts: ConnectionRepoOptions = {}) {
  const fileDir = opts.secretFileDir ?? '';
  const secretOptions = opts.secretOptions ?? (() => []);
  /**
   * Options as stored: the kind's secret options encrypted. A secret left out of new
   * options keeps its stored value (as a new URL without a password keeps the password).
   */
  const sealOptions = (kind: string, options: Record<string, unknown>, stored: Record<string, unknown> = {}): string => {
    const out = structuredClone(options);
    const both = optionFileConflict(out);
    if (both) throw new SluiceError('VALIDATION_FAILED', `${both.field}: give ${both.pair.replace('/', ' or ')}, not both`, { location: 'body', field: both.field, rule: 'exclusive' });
    // TLS files (and a SASL passwordFile) are checked like a passwordFile (inside secrets.fileDir) and kept as absolute paths.
    for (const { field, file } of tlsFiles(out)) setPath(out, field.split('.').slice(1), checkSecretFile(file, fileDir, { field }).path);
    for (const dotted of secretOptions(kind)) {
      const path = dotted.split('.');
      const value = getPath(out, path);
      if (value === undefined) {
        const kept = getPath(stored, path);
        if (isSealed(kept)) setPath(out, path, kept);
      } else if (!isSealed(value)) {
        setPath(out, path, { $sealed: box.encrypt(JSON.stringify(value)) });
      }
    }
    return JSON.stringify(out);
  };
  /**
   * Files a URL makes the driver read (MongoDB's tlsCAFile, tlsCertificateKeyFile) are
   * held to the rule of passwordFile: an absolute path inside secrets.fileDir.
   */
  const checkUrlFiles = (kind: string, url: string): void => {
    if (kind !== 'mongodb') return;
    for (const { field, file } of urlTlsFiles(kind, parseConnectionUrl(url, 'mongodb').params)) {
      if (!path.isAbsolute(file)) {
        throw new SluiceError('VALIDATION_FAILED', `${field} must be an absolute path (the driver reads it on the daemon's host)`, { location: 'body', field, rule: 'absolute' });
      }
      checkSecretFile(file, fileDir, { field });
    }
  };
  const byId = db.prepare('SELECT * FROM connections WHERE id = ?');
  // savePassword:false keeps a password out of the store; a job submitted with one
  // (Relational Migrator's default) still needs it to run, in this process only.
  const held = new Map<string, string>();

  const sealed = (input: Pick<ConnectionInput, 'kind' | 'url' | 'password' | 'savePassword'>) => {
    const split = splitPassword(input.url, input.kind);
    checkUrlFiles(input.kind, split.url);
    const password = input.password ?? split.password;
    const save = input.savePassword !== false;
    return { url: split.url, secret: save && password !== undefined ? box.encrypt(password) : null, save, hadUrlPassword: split.password !== undefined };
  };

  /**
   * The password file of a create or update, checked (inside secrets.fileDir, readable)
   * and stored as the absolute path it names; null when none. A file excludes a password
   * given any other way and savePassword:false.
   */
  const passwordFileOf = (input: Pick<ConnectionInput, 'passwordFile' | 'password' | 'savePassword'>, hadUrlPassword: boolean): string | null => {
    if (input.passwordFile === undefined || input.passwordFile === null) return null;
    if (input.password !== undefined || hadUrlPassword) {
      throw new SluiceError('VALIDATION_FAILED', 'body field "passwordFile" cannot be combined with a password (in "password" or in the URL): give one of them', { location: 'body', field: 'passwordFile', rule: 'exclusive' });
    }
    if (input.savePassword === false) {
      throw new SluiceError('VALIDATION_FAILED', 'body field "passwordFile" cannot be combined with savePassword:false: the file is read at each use, nothing is stored', { location: 'body', field: 'passwordFile', rule: 'exclusive' });
    }
    return checkSecretFile(input.passwordFile, fileDir).path;
  };

  const updateIn = (id: string, patch: Partial<ConnectionInput>): ConnectionRecord | undefined => {
    const cur = byId.get(id) as Raw | undefined;
    if (!cur) return undefined;
    if (patch.name !== undefined) assertNameFree(db, 'connections', patch.name, id);
    let url = cur.url;
    let secret = cur.secret;
    let save = cur.save_password === 1;
    let file = cur.password_file;
    if (patch.url !== undefined || patch.kind !== undefined || patch.password !== undefined || patch.savePassword !== undefined || patch.passwordFile !== undefined) {
      // Naming a file turns saving on unless the patch says otherwise: the file is the saved password.
      const savePassword = patch.savePassword ?? (typeof patch.passwordFile === 'string' ? true : save);
      const s = sealed({ kind: patch.kind ?? cur.kind, url: patch.url ?? cur.url, password: patch.password, savePassword });
      const newFile = passwordFileOf({ ...patch, savePassword }, s.hadUrlPassword);
      url = s.url;
      save = s.save;
      if (newFile !== null) {
        file = newFile;
        secret = null;
      } else if (s.secret !== null || patch.passwordFile === null || !save) {
        // A password given now (or passwordFile: null, or saving turned off) replaces the file.
        file = null;
        secret = s.secret ?? (save && patch.passwordFile !== null ? cur.secret : null);
      } else {
        // A new URL without a password keeps the stored one (or the file).
        secret = cur.secret;
      }
    }
    db.prepare(
      `UPDATE connections SET name = ?, kind = ?, url = ?, secret = ?, save_password = ?, password_file = ?, options = ?, updated_at = ? WHERE id = ?`,
    ).run(
      patch.name ?? cur.name,
      patch.kind ?? cur.kind,
      url,
      secret,
      save ? 1 : 0,
      file,
      patch.options !== undefined || (patch.kind !== undefined && patch.kind !== cur.kind)
        ? sealOptions(patch.kind ?? cur.kind, patch.options ?? parseJson(cur.options, {}), parseJson(cur.options, {}))
        : cur.options,
      nowIso(),
      id,
    );
    return toRecord(byId.get(id) as Raw);
  };

  return {
    create(input: ConnectionInput): ConnectionRecord {
      const id = crypto.randomUUID();
      const at = nowIso();
      const s = sealed(input);
      const file = passwordFileOf(input, s.hadUrlPassword);
      const options = sealOptions(input.kind, input.options ?? {});
      return db.transaction(() => {
        assertNameFree(db, 'connections', input.name);
        db.prepare(
          `INSERT INTO connections (id, name, kind, url, secret, save_password, password_file, options, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(id, input.name, input.kind, s.url, file ? null : s.secret, s.save ? 1 : 0, file, options, at, at);
        return toRecord(byId.get(id) as Raw);
      })();
    },
    get(id: string): ConnectionRecord | undefined {
      const r = byId.get(id) as Raw | undefined;
      return r && toRecord(r);
    },
    /** Case-insensitively (names.ts). */
    nameTaken(name: string, exceptId?: string): boolean {
      return nameTakenIn(db, 'connections', name, exceptId);
    },
    list(q: ListQuery): Page<ConnectionRecord> {
      const page = listRows<Raw>(db, LIST, q);
      return { ...page, items: page.items.map(toRecord) };
    },
    update(id: string, patch: Partial<ConnectionInput>): ConnectionRecord | undefined {
      return db.transaction(() => updateIn(id, patch))();
    },
    /**
     * Versions before the one URL parser could store a password in clear inside a URL the
     * standard parser refused (a multi-host URL, a port out of range). On open, such a
     * password moves into the encrypted secret (dropped under savePassword:false) and the
     * URL is rewritten without it. Returns the ids rewritten, and those whose URL cannot
     * be read at all (the daemon warns: PATCH them with a valid URL).
     */
    scrubStoredUrls(): { scrubbed: string[]; unreadable: string[] } {
      const out = { scrubbed: [] as string[], unreadable: [] as string[] };
      for (const r of db.prepare('SELECT * FROM connections').all() as Raw[]) {
        let split: { url: string; password?: string };
        try {
          split = splitPassword(r.url, r.kind);
        } catch {
          out.unreadable.push(r.id);
          continue;
        }
        if (split.password === undefined) continue;
        const secret = r.secret ?? (r.save_password === 1 ? box.encrypt(split.password) : null);
        db.prepare('UPDATE connections SET url = ?, secret = ? WHERE id = ?').run(split.url, secret, r.id);
        out.scrubbed.push(r.id);
      }
      return out;
    },
    /** Keeps a password in memory only, for a connection saved without it. */
    holdPassword(id: string, password: string | undefined): void {
      if (password === undefined) held.delete(id);
      else held.set(id, password);
    },
    /**
     * Deletes a connection no stream uses (as source, sink or transport), in one
     * transaction: false when there is none, CONNECTION_IN_USE naming the streams.
     */
    deleteIfUnused(id: string): boolean {
      return db.transaction(() => {
        if (!byId.get(id)) return false;
        const users = (db.prepare('SELECT id, spec FROM streams ORDER BY created_at').all() as { id: string; spec: string }[])
          .filter((r) => connectionIdsOf(parseJson<StreamInput>(r.spec, {} as StreamInput)).includes(id))
          .map((r) => r.id);
        if (users.length) throw new SluiceError('CONNECTION_IN_USE', `Connection ${id} is used by ${users.length} stream(s).`, { streams: users });
        held.delete(id);
        return db.prepare('DELETE FROM connections WHERE id = ?').run(id).changes > 0;
      })();
    },
    /**
     * The connection as the runtime needs it: the URL with its password put back. A
     * connection saved with savePassword:false whose URL names a user has no password
     * here: it must be supplied, else CONNECTION_PASSWORD_REQUIRED naming the connection.
     */
    resolve(id: string, suppliedPassword?: string): ConnectionSpec | undefined {
      const r = byId.get(id) as Raw | undefined;
      if (!r) return undefined;
      const stored = (): string | undefined => {
        if (r.password_file !== null) return readPasswordFile(r.password_file, fileDir, { connectionId: r.id, connection: r.name });
        return r.secret !== null ? box.decrypt(r.secret) : held.get(id);
      };
      const password = suppliedPassword ?? stored();
      if (password === undefined && r.save_password === 0 && hasUser(r.url)) {
        throw new SluiceError('CONNECTION_PASSWORD_REQUIRED', `Connection ${r.name} (${r.id}) keeps no password (savePassword:false): supply it with the request.`, {
          connectionId: r.id,
          connection: r.name,
        });
      }
      const unsealed = mapSealed(parseJson(r.options, {}), (s) => JSON.parse(box.decrypt(s.$sealed)) as unknown) as Record<string, unknown>;
      const options = withTlsFiles(unsealed, (file, field) => readPasswordFile(file, fileDir, { connectionId: r.id, connection: r.name, field }));
      return { id: r.id, name: r.name, kind: r.kind, url: joinPassword(r.url, password), options };
    },
  };
}

export type ConnectionRepo = ReturnType<typeof createConnectionRepo>;

const connectionIdsOf = (spec: Pick<StreamInput, 'source' | 'sink' | 'transport'>): string[] => connectionFieldsOf(spec).map(([, id]) => id);
