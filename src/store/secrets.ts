/**
 * Encryption of stored secrets (connection passwords) with AES-256-GCM. The key
 * comes from config (store.secretKey) or from <dataDir>/secret.key, generated with
 * mode 0600 on first start. A check value in the store detects a wrong key at
 * start, before any secret is needed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SluiceError } from '../errors';

const PREFIX = 'v1';

export interface SecretBox {
  encrypt(plain: string): string;
  decrypt(sealed: string): string;
}

/** Writes a file readable by the owner only, refusing to follow an existing file's looser mode. */
export function writePrivateFile(file: string, content: string): void {
  fs.writeFileSync(file, content, { mode: 0o600, flag: 'wx' });
  fs.chmodSync(file, 0o600);
}

export function loadSecretKey(dataDir: string, configured: string): Buffer {
  if (configured) return Buffer.from(configured, 'base64');
  const file = path.join(dataDir, 'secret.key');
  if (!fs.existsSync(file)) writePrivateFile(file, crypto.randomBytes(32).toString('base64') + '\n');
  const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) {
    throw new SluiceError('SECRET_KEY_INVALID', `The secret key file ${file} does not hold 32 bytes in base64.`, { file });
  }
  return key;
}

export function createSecretBox(key: Buffer): SecretBox {
  return {
    encrypt(plain) {
      const iv = crypto.randomBytes(12);
      const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
      const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return [PREFIX, iv.toString('base64'), cipher.getAuthTag().toString('base64'), ct.toString('base64')].join(':');
    },
    decrypt(sealed) {
      const [prefix, iv, tag, ct] = sealed.split(':');
      if (prefix !== PREFIX || !iv || !tag || ct === undefined) {
        throw new SluiceError('SECRET_KEY_INVALID', 'A stored secret has an unknown format.');
      }
      try {
        const decipher = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
        decipher.setAuthTag(Buffer.from(tag, 'base64'));
        return Buffer.concat([decipher.update(Buffer.from(ct, 'base64')), decipher.final()]).toString('utf8');
      } catch (err) {
        throw new SluiceError('SECRET_KEY_INVALID', 'A stored secret cannot be decrypted with the configured secret key.', {}, { cause: err });
      }
    },
  };
}
