/**
 * Topic naming and creation. One topic per table, `<topicPrefix>.<schema>.<table>`,
 * as Debezium names them, so a Debezium consumer finds our topics where it expects;
 * one consumer group per stream, `sluice.<stream id>`.
 */
import type { Admin } from 'kafkajs';
import type { StreamSpec, TableRef } from '../../core';
import { kafkaStreamOptions } from './options';

/** Kafka accepts [a-zA-Z0-9._-] and at most 249 characters. */
export function sanitizeTopicPart(s: string): string {
  return s.replace(/[^a-zA-Z0-9._-]/g, '_');
}

export function topicPrefixOf(stream: Pick<StreamSpec, 'name' | 'id' | 'options'>): string {
  const prefix = kafkaStreamOptions(stream).topicPrefix ?? (stream.name || stream.id);
  return sanitizeTopicPart(prefix);
}

/** The stream's consumer group: its sink workers, wherever they run, are its members. */
export function groupIdOf(stream: Pick<StreamSpec, 'id'>): string {
  return `sluice.${stream.id}`;
}

export function topicFor(prefix: string, table: TableRef): string {
  const parts = table.schema ? [prefix, table.schema, table.table] : [prefix, table.table];
  return parts.map(sanitizeTopicPart).join('.').slice(0, 249);
}

/** Creates the topics that do not exist yet; an existing topic is left as it is. */
export async function ensureTopics(admin: Admin, topics: string[], partitions: number, replicationFactor: number): Promise<void> {
  if (topics.length === 0) return;
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length === 0) return;
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor })),
    });
  } catch (err) {
    // Another sluice (or a second stream with the same prefix) may have won the race.
    const inner = (err as { errors?: Array<{ type?: string }> }).errors ?? [];
    if (!(inner.length > 0 && inner.every((e) => e.type === 'TOPIC_ALREADY_EXISTS'))) throw err;
  }
}

/**
 * Consumer lag: records in `topics` (high watermark) past what `groupId` committed,
 * summed over partitions. Asks Kafka, so other members of the group and earlier runs count too.
 */
export async function groupLag(admin: Admin, groupId: string, topics: string[]): Promise<number> {
  const unique = [...new Set(topics)];
  if (unique.length === 0) return 0;
  const committed = new Map<string, bigint>();
  for (const t of await admin.fetchOffsets({ groupId, topics: unique })) {
    for (const p of t.partitions) committed.set(`${t.topic}:${p.partition}`, BigInt(p.offset));
  }
  let lag = 0n;
  for (const topic of unique) {
    for (const p of await admin.fetchTopicOffsets(topic)) {
      const high = BigInt(p.high);
      const low = BigInt(p.low);
      const c = committed.get(`${topic}:${p.partition}`) ?? -1n;
      // -1: nothing committed yet, so everything still in the log is behind.
      const from = c < low ? low : c;
      if (high > from) lag += high - from;
    }
  }
  return Number(lag);
}
