/** Writes a benchmark's results as JSON and as a Markdown table under bench/results/. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Row {
  measure: string;
  sluice: number | null;
  baseline: number | null;
  unit: string;
  /** sluice / baseline (or baseline / sluice for "lower is better" units), and the target it is held to. */
  ratio?: number | null;
  target?: string;
  met?: boolean | null;
  note?: string;
}

/** `baseline` names the baseline column (default "baseline"); `notes` are paragraphs after the table. */
export function writeReport(
  scenario: string,
  params: Record<string, unknown>,
  rows: Row[],
  opts: { baseline?: string; ratio?: string; notes?: string[]; extra?: Record<string, unknown> } = {},
): { json: string; md: string } {
  const dir = path.resolve(__dirname, '../../bench/results');
  fs.mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  const base = path.join(dir, `${date}-${scenario}`);
  const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
  fs.writeFileSync(`${base}.json`, JSON.stringify({ scenario, date: new Date().toISOString(), machine, params, rows, ...opts.extra }, null, 2) + '\n');
  const fmt = (v: number | null | undefined, digits = 0) => (v === null || v === undefined ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: digits }));
  const lines = [
    `# ${scenario} benchmark, ${date}`,
    '',
    `Machine: ${machine.cpus} cores (${machine.model}), ${machine.memGiB} GiB, Node ${machine.node}. Parameters: ${JSON.stringify(params)}.`,
    opts.ratio ?? 'Ratios compare sluice with the baseline measured in the same run; bare numbers on this shared machine are noisy.',
    '',
    `| measure | sluice | ${opts.baseline ?? 'baseline'} | unit | ratio | target | met | note |`,
    '| --- | ---: | ---: | --- | ---: | --- | --- | --- |',
    ...rows.map((r) => `| ${r.measure} | ${fmt(r.sluice, 1)} | ${fmt(r.baseline, 1)} | ${r.unit} | ${r.ratio === undefined || r.ratio === null ? '–' : `${(r.ratio * 100).toFixed(0)}%`} | ${r.target ?? ''} | ${r.met === undefined || r.met === null ? '' : r.met ? 'yes' : '**no**'} | ${r.note ?? ''} |`),
    '',
    ...(opts.notes ?? []).flatMap((n) => [n, '']),
  ];
  fs.writeFileSync(`${base}.md`, lines.join('\n'));
  return { json: `${base}.json`, md: `${base}.md` };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}
