/**
 * How far behind a stream is, in its status (GET /streams/{id}) and its stats
 * (GET /streams/{id}/stats): Relational Migrator's cdcStatistics and the lag the run
 * last measured. During a retry back-off the operator sees here how much piles up.
 */
import type { LagView } from '../../metrics/stream-meter';
import type { StreamStatusView } from '../../runtime/supervisor-types';

const nullableNumber = { type: ['number', 'null'] } as const;

/** How far behind a stream is (GET /streams/{id} and /stats): Relational Migrator's cdcStatistics and the lag. */
export const progressProperties = {
  cdcStatistics: {
    type: 'object',
    description: "As in Relational Migrator: the current run's change events (lastEventTime, eventsInLastMinute, eventsInLastHour, totalEventsSeen).",
    properties: {
      lastEventTime: { type: ['string', 'null'], format: 'date-time' },
      eventsInLastMinute: { type: 'integer' },
      eventsInLastHour: { type: 'integer' },
      totalEventsSeen: { type: 'integer' },
    },
  },
  lag: {
    type: ['object', 'null'],
    description:
      'How far behind the current run is: sourceBytes (log bytes the source has not acknowledged, PostgreSQL), sourceSeconds (age of the last change delivered; 0 after a heartbeat), consumerMessages (Kafka consumer lag). null: no run in this process; a null field: not measured.',
    properties: { sourceBytes: nullableNumber, sourceSeconds: nullableNumber, consumerMessages: nullableNumber },
  },
} as const;

/** The progress fields of a stream's status view. */
export function progressOf(live: StreamStatusView): { cdcStatistics: Record<string, unknown>; lag: LagView | null } {
  const a = live.cdcActivity;
  return {
    cdcStatistics: {
      lastEventTime: a?.lastEventTime ?? null,
      eventsInLastMinute: a?.eventsInLastMinute ?? 0,
      eventsInLastHour: a?.eventsInLastHour ?? 0,
      totalEventsSeen: live.statistics.cdcEvents ?? 0,
    },
    lag: live.lag ?? null,
  };
}
