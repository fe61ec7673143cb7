/**
 * `npm run test:chaos` and its smallest size inside `npm test` (issue 16): the fault
 * table of test/chaos/faults.ts, `SLUICE_CHAOS_CYCLES` cycles per fault (1 here by
 * default), each fault must lose nothing and duplicate nothing, and recover. The table
 * is printed as a diagnostic and written to SLUICE_CHAOS_RESULTS (default
 * <tmpdir>/sluice-chaos-last.md).
 *
 * These stop servers of the stack: run them on a stack of your own
 * (SLUICE_STACK_PORT_OFFSET / SLUICE_STACK_DIR, test/stack/README.md).
 * Knobs: SLUICE_CHAOS_CYCLES (1), SLUICE_CHAOS_DOWN_MS (5000), SLUICE_CHAOS_FAULTS (a
 * case-insensitive substring of the fault names to run only those).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { knob } from '../helpers/pipeline';
import { chaosTable, FAULTS, runFault, type ChaosRow } from './faults';

const CYCLES = knob('SLUICE_CHAOS_CYCLES', 1);
const DOWN_MS = knob('SLUICE_CHAOS_DOWN_MS', 5000);
const ONLY = (process.env.SLUICE_CHAOS_FAULTS ?? '').toLowerCase();
const RESULTS = process.env.SLUICE_CHAOS_RESULTS || path.join(os.tmpdir(), 'sluice-chaos-last.md');

const rows: ChaosRow[] = [];
after(() => {
  const table = chaosTable(rows, { cycles: CYCLES, downMs: DOWN_MS });
  fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
  fs.writeFileSync(RESULTS, `${table}\n`);
  console.log(`\nchaos table (${RESULTS}):\n${table}\n`);
});

for (const fault of FAULTS.filter((f) => !ONLY || f.name.toLowerCase().includes(ONLY))) {
  test(`chaos: ${fault.name}, ${CYCLES} cycle(s): nothing lost, nothing duplicated, recovered every time`, { timeout: 300000 + CYCLES * 300000 }, async (t) => {
    const row = await runFault(fault, { cycles: CYCLES, downMs: DOWN_MS });
    rows.push(row);
    t.diagnostic(JSON.stringify(row));
    assert.equal(row.lost, 0, row.note);
    assert.equal(row.duplicated, 0, row.note);
    assert.equal(row.recoverMs.length, CYCLES, row.note);
    assert.ok(row.recoverMs.every((ms) => ms !== null), row.note);
    assert.equal(row.note, undefined);
    assert.ok(row.rowsWritten > 0);
  });
}
