/**
 * The SIGKILL cycles of pg-kill, on the MariaDB source: kills at random moments
 * during the snapshot (each asserted to land in SNAPSHOTTING) and during CDC, with
 * writes continuing; then MongoDB equals MariaDB row by row, every column. Once
 * through the direct transport, once through Kafka.
 *
 * Knobs: SLUICE_E2E_MYSQL_KILL_ROWS (rows before the snapshot), SLUICE_E2E_KILLS (kills per phase).
 */
import { test } from 'node:test';
import { knob } from '../helpers/pipeline';
import { killCycles } from '../helpers/kill-cycles';

const ROWS = knob('SLUICE_E2E_MYSQL_KILL_ROWS', 30000);
const KILLS = knob('SLUICE_E2E_KILLS', 5);

test('MariaDB: no row lost or doubled when the daemon is killed mid-snapshot and mid-CDC (direct transport)', { timeout: 900000 }, async () => {
  await killCycles('mysql', 'direct', ROWS, KILLS);
});

test('MariaDB: no row lost or doubled when the daemon is killed mid-snapshot and mid-CDC (Kafka transport)', { timeout: 900000 }, async () => {
  await killCycles('mysql', 'kafka', ROWS, KILLS);
});
