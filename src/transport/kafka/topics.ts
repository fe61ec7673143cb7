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
