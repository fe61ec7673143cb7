/**
 * API keys: shown once at creation, stored as a SHA-256 hash (the keys are 256
 * random bits, so a slow hash adds nothing), compared in constant time.
 * Format `sk_<id>_<secret>`: the id finds the row, the hash proves the key.
 * The bootstrap key from SLUICE_ADMIN_KEY may have any form; it is matched by hash.
 * A key may carry an expiry (`expiresAt`); past it the key is refused as expired
 * (a distinct answer from an unknown key, given only to whoever holds the key).
 */
import crypto from 'node:crypto';
import type { Db } from './db';
import { isStoreWriteFailure } from './write-health';
import { listRows, nowIso, type ListQuery, type Page } from './list';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface ApiKeyRecord {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** When the key stops working (ISO 8601), or null: never. */
  expiresAt: string | null;
}

/** What a presented key turned out to be. */
export type KeyCheck = { ok: true; record: ApiKeyRecord } | { ok: false; reason: 'unknown' | 'expired'; record?: ApiKeyRecord };

interface Raw {
  id: string;
  name: string;
  role: Role;
  hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  expires_at: string | null;
}

const LIST = {
  table: 'api_keys',
  columns: { id: 'id', name: 'name', role: 'role', createdAt: 'created_at', expiresAt: 'expires_at' },
  defaultSort: 'createdAt',
};

const KEY_FORMAT = /^sk_([A-Za-z0-9]{16})_[A-Za-z0-9_-]{43}$/;

const sha256 = (s: string): Buffer => crypto.createHash('sha256').update(s, 'utf8').digest();

const toRecord = (r: Raw): ApiKeyRecord => ({
  id: r.id,
  name: r.name,
  role: r.role,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
  expiresAt: r.expires_at,
});

const TOUCH_EVERY_MS = 60_000;

export function roleAllows(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export function createApiKeyRepo(db: Db) {
  const insert = db.prepare('INSERT INTO api_keys (id, name, role, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)');
  const byId = db.prepare('SELECT * FROM api_keys WHERE id = ?');
  const touch = db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?');
  /**
   * When each key's last_used_at was last written. It is recorded at most once a minute
   * per key: a write on every request made the store's disk the cost of polling the API
   * (a status poll every 25 ms spent more CPU in this UPDATE than in the snapshot).
   */
  const touched = new Map<string, number>();

  const store = (id: string, name: string, role: Role, key: string, expiresAt: string | null = null): ApiKeyRecord => {
    insert.run(id, name, role, sha256(key).toString('hex'), nowIso(), expiresAt);
    return toRecord(byId.get(id) as Raw);
  };

  /** The stored row matching `presented` (revoked ones included), compared in constant time. */
  const match = (presented: string): Raw | undefined => {
    const digest = sha256(presented);
    const m = KEY_FORMAT.exec(presented);
    const candidates = (m ? [byId.get(m[1])] : db.prepare("SELECT * FROM api_keys WHERE id LIKE 'bootstrap-%'").all()) as (Raw | undefined)[];
    let found: Raw | undefined;
    for (const c of candidates) {
      if (c && crypto.timingSafeEqual(Buffer.from(c.hash, 'hex'), digest)) found = c;
    }
    return found;
  };

  return {
    /**
     * Creates a key; the returned `key` is the only time it is ever visible.
     * `expiresAt` (ISO 8601, normalised to UTC) ends its life; null: it never expires.
     */
    create(name: string, role: Role, expiresAt: string | null = null): { record: ApiKeyRecord; key: string } {
      const id = crypto.randomBytes(8).toString('hex');
      const key = `sk_${id}_${crypto.randomBytes(32).toString('base64url')}`;
      return { record: store(id, name, role, key, expiresAt === null ? null : new Date(expiresAt).toISOString()), key };
    },
    /** Stores an operator-chosen key (SLUICE_ADMIN_KEY) under a fixed id. */
    adopt(id: string, name: string, role: Role, key: string): ApiKeyRecord {
      return store(id, name, role, key);
    },
    count(): number {
      return (db.prepare('SELECT count(*) AS n FROM api_keys').get() as { n: number }).n;
    },
    /** The active key matching `presented`, or undefined. */
    verify(presented: string): ApiKeyRecord | undefined {
      const c = this.check(presented);
      return c.ok ? c.record : undefined;
    },
    /** What `presented` is: an active key, an expired one, or nothing usable (unknown or revoked). */
    check(presented: string, now = Date.now()): KeyCheck {
      const found = match(presented);
      if (!found || found.revoked_at) return { ok: false, reason: 'unknown' };
      if (found.expires_at !== null && Date.parse(found.expires_at) <= now) return { ok: false, reason: 'expired', record: toRecord(found) };
      if (now - (touched.get(found.id) ?? 0) >= TOUCH_EVERY_MS) {
        touched.set(found.id, now);
        try {
          touch.run(nowIso(), found.id);
        } catch (err) {
          // Best effort: a full disk must not lock the operator out of the API that says so.
          if (!isStoreWriteFailure(err)) throw err;
        }
      }
      return { ok: true, record: toRecord(found) };
    },
    get(id: string): ApiKeyRecord | undefined {
      const r = byId.get(id) as Raw | undefined;
      return r && toRecord(r);
    },
    list(q: ListQuery): Page<ApiKeyRecord> {
      const page = listRows<Raw>(db, LIST, q);
      return { ...page, items: page.items.map(toRecord) };
    },
    revoke(id: string): boolean {
      return db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(nowIso(), id).changes > 0;
    },
  };
}

export type ApiKeyRepo = ReturnType<typeof createApiKeyRepo>;
