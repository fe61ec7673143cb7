import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isScheduled, nextRunAfter, Scheduler, validateSchedule } from './schedule';
import { SluiceError } from '../errors';
import { waitFor } from '../../test/helpers/wait-for';

const refused = (fn: () => void, field: string, reason?: RegExp): SluiceError => {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SluiceError, `expected a SluiceError, got ${String(caught)}`);
  assert.equal(caught.code, 'VALIDATION_FAILED');
  assert.equal(caught.detail.field, field);
  if (reason) assert.match(caught.message, reason);
  return caught;
};

test('a schedule is accepted on a SNAPSHOT stream, with or without a timezone, 5 or 6 fields', () => {
  validateSchedule({ mode: 'SNAPSHOT', schedule: { cron: '0 2 * * *', timezone: 'UTC' } });
  validateSchedule({ mode: 'SNAPSHOT', schedule: { cron: '*/5 * * * * *' } });
  validateSchedule({ mode: 'SNAPSHOT', schedule: { cron: '30 1 * * 1-5', timezone: 'Europe/Berlin' } });
  validateSchedule({ mode: 'CDC' }); // no schedule: nothing to check
});

test('a schedule on a CDC or CDC_ONLY stream is refused, naming the field', () => {
  for (const mode of ['CDC', 'CDC_ONLY'] as const) {
    const e = refused(() => validateSchedule({ mode, schedule: { cron: '0 2 * * *' } }), 'schedule', /only allowed on a SNAPSHOT stream/);
    assert.equal(e.detail.mode, mode);
  }
});

test("an invalid cron expression is refused with croner's reason", () => {
  refused(() => validateSchedule({ mode: 'SNAPSHOT', schedule: { cron: 'every night' } }), 'schedule.cron', /exactly five, six, or seven space separated parts/);
  const e = refused(() => validateSchedule({ mode: 'SNAPSHOT', schedule: { cron: '61 * * * *' } }), 'schedule.cron', /Invalid value for minute: 61/);
  assert.match(String(e.detail.reason), /minute/);
  refused(() => validateSchedule({ mode: 'SNAPSHOT', schedule: { cron: '0 0 30 2 *' } }), 'schedule.cron', /never fires/);
});

test('an unknown timezone is refused, naming schedule.timezone', () => {
  refused(() => validateSchedule({ mode: 'SNAPSHOT', schedule: { cron: '0 2 * * *', timezone: 'Mars/Olympus_Mons' } }), 'schedule.timezone', /Mars\/Olympus_Mons/);
});

test('the next run: the cron read in its timezone, UTC by default', () => {
  const from = new Date('2026-12-01T05:00:00Z');
  assert.equal(nextRunAfter({ cron: '0 2 * * *' }, from)?.toISOString(), '2026-12-02T02:00:00.000Z');
  assert.equal(nextRunAfter({ cron: '0 2 * * *', timezone: 'UTC' }, from)?.toISOString(), '2026-12-02T02:00:00.000Z');
  // 02:00 in Berlin (CET, UTC+1 in December) is 01:00Z.
  assert.equal(nextRunAfter({ cron: '0 2 * * *', timezone: 'Europe/Berlin' }, from)?.toISOString(), '2026-12-02T01:00:00.000Z');
  // …and in July (CEST, UTC+2) it is 00:00Z.
  assert.equal(nextRunAfter({ cron: '0 2 * * *', timezone: 'Europe/Berlin' }, new Date('2026-07-01T05:00:00Z'))?.toISOString(), '2026-07-02T00:00:00.000Z');
  assert.equal(nextRunAfter({ cron: '*/10 * * * * *' }, new Date('2026-12-01T05:00:03Z'))?.toISOString(), '2026-12-01T05:00:10.000Z');
  assert.equal(nextRunAfter({ cron: '0 0 30 2 *' }, from), null);
});

test('isScheduled: only SNAPSHOT specs with a schedule are armed', () => {
  assert.equal(isScheduled({ mode: 'SNAPSHOT', schedule: { cron: '* * * * *' } }), true);
  assert.equal(isScheduled({ mode: 'SNAPSHOT' }), false);
  assert.equal(isScheduled({ mode: 'CDC', schedule: { cron: '* * * * *' } }), false);
  assert.equal(isScheduled(undefined), false);
});

test('Scheduler: arms, ticks, re-arms, disarms and stops; a failing tick is reported and the job goes on', async () => {
  const errors: unknown[] = [];
  const sched = new Scheduler((_id, err) => errors.push(err));
  let ticks = 0;
  sched.arm('a', { cron: '* * * * * *' }, async () => {
    ticks++;
    throw new Error(`tick ${ticks} failed`);
  });
  assert.equal(sched.isArmed('a'), true);
  const next = sched.nextRun('a');
  assert.ok(next && next.getTime() > Date.now() - 1 && next.getTime() <= Date.now() + 1000, `next run within a second: ${next?.toISOString()}`);
  await waitFor(() => ticks >= 2 && errors.length >= 2, { timeoutMs: 5000, message: 'two ticks, both failing' });
  assert.match(String(errors[0]), /tick 1 failed/);
  assert.ok(sched.nextRun('a')!.getTime() > next!.getTime(), 'the next run moved on');

  // Re-arming with a daily cron replaces the per-second job.
  sched.arm('a', { cron: '0 3 * * *', timezone: 'UTC' }, async () => void ticks++);
  assert.equal(sched.nextRun('a')?.getUTCHours(), 3);
  sched.disarm('a');
  assert.equal(sched.isArmed('a'), false);
  assert.equal(sched.nextRun('a'), null);

  let after = 0;
  sched.arm('b', { cron: '* * * * * *' }, async () => void after++);
  sched.stopAll();
  assert.equal(sched.isArmed('b'), false);
  sched.arm('c', { cron: '* * * * * *' }, async () => void after++);
  assert.equal(sched.isArmed('c'), false, 'a stopped scheduler arms nothing');
});
