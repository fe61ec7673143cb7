import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventRate } from './event-rate';

test('events are counted over the last minute and the last hour, old ones fall out, the last event time is kept', () => {
  const r = new EventRate();
  const t0 = Date.parse('2026-01-01T00:00:00.000Z');
  assert.deepEqual(r.activity(t0), { lastEventTime: null, eventsInLastMinute: 0, eventsInLastHour: 0 });
  r.record(5, t0);
  r.record(0, t0 + 500); // empty batches (heartbeats) are no events
  r.record(3, t0 + 30_000);
  assert.deepEqual(r.activity(t0 + 30_000), { lastEventTime: '2026-01-01T00:00:30.000Z', eventsInLastMinute: 8, eventsInLastHour: 8 });
  assert.equal(r.activity(t0 + 61_000).eventsInLastMinute, 3, 'the first batch is older than a minute');
  assert.equal(r.activity(t0 + 61_000).eventsInLastHour, 8);
  // A slot reused an hour later starts again from zero.
  r.record(2, t0 + 3_600_000);
  assert.deepEqual(r.activity(t0 + 3_600_000), { lastEventTime: '2026-01-01T01:00:00.000Z', eventsInLastMinute: 2, eventsInLastHour: 5 });
  assert.equal(r.activity(t0 + 3 * 3_600_000).eventsInLastHour, 0, 'nothing for hours: nothing counted');
});
