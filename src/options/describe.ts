/**
 * Reading declarations: which options are secrets, and a Markdown table of them for
 * the README's "Options" section (a test regenerates it and compares, so the docs
 * cannot drift from the schemas).
 */
import type { OptionSchema, OptionsObjectSchema } from '../core';

/** Dotted paths of the options marked `x-secret`, nested objects included. */
export function secretPaths(schema: OptionSchema, prefix: string[] = []): string[] {
  if (schema['x-secret']) return [prefix.join('.')];
  const out: string[] = [];
  for (const [k, s] of Object.entries(schema.properties ?? {})) out.push(...secretPaths(s, [...prefix, k]));
  return out;
}

/** A copy of `value` without the secret options' values (for API answers and logs). */
export function withoutSecrets(schema: OptionSchema, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const s = schema.properties?.[k];
    if (s?.['x-secret']) continue;
    out[k] = s?.properties && v && typeof v === 'object' && !Array.isArray(v) ? withoutSecrets(s, v as Record<string, unknown>) : v;
  }
  return out;
}

function typeText(s: OptionSchema): string {
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (s.anyOf) return s.anyOf.map(typeText).join(' or ');
  let t = s.type ?? 'any';
  if (t === 'array' && s.items) t = `array of ${typeText(s.items)}` as typeof t;
  const range = [s.minimum !== undefined ? `≥ ${s.minimum}` : '', s.maximum !== undefined ? `≤ ${s.maximum}` : ''].filter(Boolean).join(', ');
  return range ? `${t} (${range})` : t;
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ').replace(/</g, '&lt;');

function rows(schema: OptionSchema, prefix: string): string[] {
  const out: string[] = [];
  for (const [k, s] of Object.entries(schema.properties ?? {})) {
    const name = prefix ? `${prefix}.${k}` : k;
    const flags = [s['x-secret'] ? 'secret' : '', s['x-advanced'] ? 'advanced' : '', s.deprecated ? 'deprecated' : ''].filter(Boolean);
    const dflt = s.default === undefined || (typeof s.default === 'object' && s.default !== null && Object.keys(s.default).length === 0) ? '' : `\`${JSON.stringify(s.default)}\``;
    const example = s.example === undefined ? '' : ` Example: \`${JSON.stringify(s.example)}\`.`;
    out.push(`| \`${name}\`${flags.length ? ` (${flags.join(', ')})` : ''} | ${cell(typeText(s))} | ${dflt} | ${cell((s.description ?? '') + example)} |`);
    if (s.properties) out.push(...rows(s, name));
  }
  return out;
}

/** One Markdown table: option, type, default, description (nested options dotted). */
export function optionsTable(schema: OptionsObjectSchema): string {
  const body = rows(schema, '');
  if (body.length === 0) return '(none)';
  return ['| option | type | default | description |', '| --- | --- | --- | --- |', ...body].join('\n');
}
