/**
 * Every per-stream metric, in one list. Names follow Prometheus conventions: the
 * unit in the name, `_total` on counters, seconds and bytes as base units. Labels
 * stay bounded: `stream` (one per configured stream) and `table` (the stream's
 * tables, capped per stream by StreamMeter), plus `phase` (snapshot | cdc).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export function createCatalogue(registry: Registry) {
  const registers = [registry];
  const perTable = ['stream', 'table'] as const;
  const perStream = ['stream'] as const;
  return {
    eventsRead: new Counter({
      name: 'sluice_events_read_total',
      help: 'Row events (snapshot rows and changes) read from the source.',
      labelNames: perTable,
      registers,
    }),
    eventsWritten: new Counter({
      name: 'sluice_events_written_total',
      help: 'Row events the sink wrote and MongoDB acknowledged.',
      labelNames: perTable,
      registers,
    }),
    eventsFiltered: new Counter({
      name: 'sluice_events_filtered_total',
      help: 'Row events dropped on purpose by the stream\'s filters.',
      labelNames: perTable,
      registers,
    }),
    eventsFailed: new Counter({
      name: 'sluice_events_failed_total',
      help: 'Row events that could not be delivered: records skipped as record errors (errorHandling WARN/SKIP), and events in batches that failed the stream.',
      labelNames: perStream,
      registers,
    }),
    deadLetters: new Counter({
      name: 'sluice_dead_letters_total',
      help: 'Records rejected to the dead-letter topic or table.',
      labelNames: perStream,
      registers,
    }),
    snapshotRows: new Counter({
      name: 'sluice_snapshot_rows_total',
      help: 'Snapshot rows durably handed to the transport.',
      labelNames: perTable,
      registers,
    }),
    snapshotProgress: new Gauge({
      name: 'sluice_snapshot_progress_ratio',
      help: 'Share of a table\'s snapshot done (0 to 1), against the row estimate taken when it started.',
      labelNames: perTable,
      registers,
    }),
    sourceLagSeconds: new Gauge({
      name: 'sluice_source_lag_seconds',
      help: 'Age of the last change delivered, from its commit time; 0 after a heartbeat.',
      labelNames: perStream,
      registers,
    }),
    sourceLagBytes: new Gauge({
      name: 'sluice_source_lag_bytes',
      help: 'WAL or binlog bytes written by the source database and not yet acknowledged by the stream.',
      labelNames: perStream,
      registers,
    }),
    slotRetainedWal: new Gauge({
      name: 'sluice_source_slot_retained_wal_bytes',
      help: 'WAL bytes the stream\'s replication slot keeps on the database server (from restart_lsn).',
      labelNames: perStream,
      registers,
    }),
    consumerLag: new Gauge({
      name: 'sluice_kafka_consumer_lag_messages',
      help: 'Kafka records in the stream\'s topics not yet committed by its sink consumer group.',
      labelNames: perStream,
      registers,
    }),
    latency: new Histogram({
      name: 'sluice_end_to_end_latency_seconds',
      help: 'From a change\'s commit in the source database to MongoDB acknowledging it (snapshot rows excluded).',
      labelNames: perStream,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
    batchSize: new Histogram({
      name: 'sluice_batch_size_events',
      help: 'Row events per batch handed from the source to the transport.',
      labelNames: ['stream', 'phase'],
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
      registers,
    }),
    kafkaErrors: new Counter({
      name: 'sluice_kafka_errors_total',
      help: 'Kafka errors met by the stream\'s producer or consumer, retried ones included.',
      labelNames: perStream,
      registers,
    }),
    mongodbErrors: new Counter({
      name: 'sluice_mongodb_errors_total',
      help: 'MongoDB errors met by the stream\'s sink, retried ones included.',
      labelNames: perStream,
      registers,
    }),
    streamRestarts: new Counter({
      name: 'sluice_stream_restarts_total',
      help: 'Runs restarted by the stream\'s retry policy after a retriable failure (a source, sink or Kafka that was away).',
      labelNames: perStream,
      registers,
    }),
  };
}

export type Catalogue = ReturnType<typeof createCatalogue>;
