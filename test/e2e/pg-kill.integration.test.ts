/**
 * The guarantee users trust us for: kill the daemon with SIGKILL at random
 * moments, during the snapshot and during CDC, with writes continuing; after a
 * restart MongoDB equals PostgreSQL exactly — nothing missing, nothing extra,
 * every value the same. Once through the direct transport, once through Kafka.
 *
 * Knobs: SLUICE_E2E_ROWS (rows before the snapshot), SLUICE_E2E_KILLS (kills per phase).
 */
import { test } from 'node:test';
import { knob } from '../helpers/pipeline';
import { killCycles } from '../helpers/kill-cycles';

const ROWS = knob('SLUICE_E2E_ROWS', 30000);
const KILLS = knob('SLUICE_E2E_KILLS', 5);

test('no row lost or doubled when the daemon is killed mid-snapshot and mid-CDC (direct transport)', { timeout: 900000 }, async () => {
  await killCycles('postgresql', 'direct', ROWS, KILLS);
});

test('no row lost or doubled when the daemon is killed mid-snapshot and mid-CDC (Kafka transport)', { timeout: 900000 }, async () => {
  await killCycles('postgresql', 'kafka', ROWS, KILLS);
});
