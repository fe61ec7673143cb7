/**
 * Breaking the servers around a running MariaDB stream: Kafka stopped and
 * restarted, and MariaDB itself restarted, while writes go on. Each ends with
 * MongoDB equal to MariaDB row by row, and the stream still running.
 *
 * These stop servers of the stack: run them on a stack of your own
 * (SLUICE_STACK_PORT_OFFSET / SLUICE_STACK_DIR, see test/stack/README.md) when
 * others share it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stackServer } from '../helpers/pipeline';
import { serverDown, writesThroughOutage } from '../helpers/outage';

test('MariaDB stream: a Kafka restart mid-stream loses nothing; the stream keeps running and converges', { timeout: 600000 }, async () => {
  const written = await writesThroughOutage('mysql', 'kafka', () =>
    serverDown(
      () => stackServer('down', 'kafka'),
      () => stackServer('up', 'kafka'),
    ),
  );
  assert.ok(written > 0);
});

test('MariaDB restarted mid-stream with writes running: the binlog reader reconnects and resumes, nothing lost', { timeout: 600000 }, async () => {
  const written = await writesThroughOutage('mysql', 'direct', () =>
    serverDown(
      () => stackServer('down', 'mariadb'),
      () => stackServer('up', 'mariadb'),
      2000,
    ),
  );
  assert.ok(written > 0);
});
