/** The package version, read once from package.json (two levels up from dist/src or src). */
import fs from 'node:fs';
import path from 'node:path';

function findVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    const file = path.resolve(__dirname, rel);
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'sluice' && pkg.version) return pkg.version;
    }
  }
  return '0.0.0';
}

export const VERSION = findVersion();
