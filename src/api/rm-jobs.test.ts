import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SluiceError } from '../errors';
import { parseJdbc, parseMongoUri, toEcho, toStreamInput, type RmJobRequest } from './rm-jobs';
import { rmError, toJobView, toRmUpdate } from './rm-job-view';
import type { StreamStatusView } from '../runtime/supervisor-types';

const jdbc = (url: string, type = 'POSTGRESQL', extra: Record<string, unknown> = {}) => parseJdbc({ type, url, ...extra });

const refused = (fn: () => unknown, code: string, field: string): SluiceError => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SluiceError, String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(err.detail.field, field, err.message);
    return err;
  }
  assert.fail('not refused');
};

test('a PostgreSQL JDBC URL with user and password in its query becomes a postgresql URL without the password', () => {
  const c = jdbc('jdbc:postgresql://db.example:5433/app?user=alice&password=s%40cret&sslmode=disable');
  assert.equal(c.kind, 'postgresql');
  assert.equal(c.url, 'postgresql://alice@db.example:5433/app?sslmode=disable');
  assert.equal(c.password, 's@cret');
  assert.equal(c.display, 'jdbc:postgresql://db.example:5433/app?user=alice&sslmode=disable');
  assert.ok(!c.display.includes('cret') && !c.url.includes('cret'));
});

test('user and password beside the URL win over the URL (RM\'s form fields)', () => {
  const c = jdbc('jdbc:mysql://127.0.0.1:3306/shop?user=u1&password=p1', 'MYSQL', { user: 'u2', password: 'p2' });
  assert.equal(c.kind, 'mysql');
  assert.equal(c.url, 'mysql://u2@127.0.0.1:3306/shop');
  assert.equal(c.password, 'p2');
});

test('MariaDB: jdbc:mariadb:// and type MARIADB read as a mysql connection; userinfo credentials are taken too', () => {
  const c = jdbc('jdbc:mariadb://bob:pw@localhost:53306/inv', 'MARIADB');
  assert.equal(c.kind, 'mysql');
  assert.equal(c.url, 'mysql://bob@localhost:53306/inv');
  assert.equal(c.password, 'pw');
  assert.ok(!c.display.includes('pw@'));
  // Type and subprotocol of the same family agree either way round.
  assert.equal(jdbc('jdbc:mysql://h:3306/d', 'mariadb').kind, 'mysql');
  assert.equal(jdbc('jdbc:mariadb://h:3306/d', 'MYSQL').kind, 'mysql');
});

test('unsupported source types and subprotocols are refused naming what is supported', () => {
  for (const type of ['ORACLE', 'SQL_SERVER', 'DB2', 'SYBASE', 'COCKROACHDB']) {
    const e = refused(() => jdbc('jdbc:postgresql://h/d', type), 'CONNECTOR_UNKNOWN', 'jdbcConnectionDetails.type');
    assert.match(e.message, /POSTGRESQL, MYSQL, MARIADB/);
    assert.deepEqual(e.detail.supported, ['POSTGRESQL', 'MYSQL', 'MARIADB']);
    assert.equal(e.status, 400);
  }
  refused(() => jdbc('jdbc:oracle:thin:@host:1521:ORCL'), 'CONNECTOR_UNKNOWN', 'jdbcConnectionDetails.url');
  refused(() => jdbc('jdbc:sqlserver://host:1433;databaseName=x'), 'CONNECTOR_UNKNOWN', 'jdbcConnectionDetails.url');
});

test('a bad JDBC URL is a 400 naming jdbcConnectionDetails.url', () => {
  for (const url of ['not a url', 'jdbc:postgresql:app', 'jdbc:postgresql://', 'jdbc:postgresql://h1:5432,h2:5432/app', 'jdbc:postgresql://h:99999/app']) {
    const e = refused(() => jdbc(url), 'CONNECTION_URL_INVALID', 'jdbcConnectionDetails.url');
    assert.equal(e.status, 400);
  }
  // The type and the URL must name the same database family.
  refused(() => jdbc('jdbc:mysql://h:3306/d', 'POSTGRESQL'), 'CONNECTION_URL_INVALID', 'jdbcConnectionDetails.url');
});

test('MongoDB connection strings: the database is read, the password split off; none named gives null', () => {
  const m = parseMongoUri('mongodb://admin:p%2Fw@127.0.0.1:57017/target?authSource=admin');
  assert.equal(m.database, 'target');
  assert.equal(m.password, 'p/w');
  assert.equal(m.url, 'mongodb://admin@127.0.0.1:57017/target?authSource=admin');
  assert.equal(parseMongoUri('mongodb+srv://c.example.net/app').database, 'app');
  assert.equal(parseMongoUri('mongodb://h1:1,h2:2/multi?replicaSet=rs').database, 'multi');
  for (const none of ['mongodb://127.0.0.1:57017', 'mongodb://127.0.0.1:57017/', 'mongodb://u:p@h/?ssl=true']) assert.equal(parseMongoUri(none).database, null, none);
  refused(() => parseMongoUri('postgresql://h/db'), 'CONNECTION_URL_INVALID', 'mongodbConnectionDetails.connectionString');
});

const request = (over: Partial<RmJobRequest> = {}): RmJobRequest => ({
  projectId: 'p1',
  jdbcConnectionDetails: { type: 'POSTGRESQL', url: 'jdbc:postgresql://h/d' },
  mongodbConnectionDetails: { connectionString: 'mongodb://h/t', projectName: 'proj', clusterName: 'c0' },
  options: { mode: 'CDC', errorHandling: 'SKIP', errorTolerance: 5 },
  verification: { enabled: true },
  ...over,
});

test('RM options and relationalTableFilters become the stream spec; its tables are the filtered ones', () => {
  const s = toStreamInput(
    request({ relationalTableFilters: { public: { orders: { whereClause: 'id > 10' }, items: { rowCount: 5 } }, sales: { t: {} } } }),
    { sourceId: 'src', sinkId: 'snk' },
  );
  assert.equal(s.name, 'rm-p1');
  assert.deepEqual(s.source, { connectionId: 'src' });
  assert.deepEqual(s.sink, { connectionId: 'snk' });
  assert.equal(s.mode, 'CDC');
  assert.deepEqual(s.tables, ['public.orders', 'public.items', 'sales.t']);
  assert.deepEqual(s.relationalTableFilters?.public?.orders, { whereClause: 'id > 10' });
  assert.deepEqual(s.options, { dropCollections: false, errorHandling: 'SKIP', errorTolerance: 5 });
  assert.equal(s.transport, undefined, 'the daemon default transport');
  // No filters: the whole default schema, as RM migrates the whole project.
  assert.deepEqual(toStreamInput(request(), { sourceId: 'a', sinkId: 'b' }).tables, ['*']);
});

const live = (over: Partial<StreamStatusView> = {}): StreamStatusView => ({
  streamId: 's1',
  state: 'STREAMING',
  status: 'RUNNING',
  cdcStatus: 'RUNNING',
  mode: 'CDC',
  statistics: { eventsRead: 12, eventsWritten: 12, snapshotRows: 10, cdcEvents: 2, batches: 3, eventsFailed: 0, deadLettered: 0 },
  runId: 'r1',
  startedAt: '2026-01-01T00:00:00.000Z',
  nextRunAt: null,
  ...over,
});

test('the job view is RM\'s shape: statuses, options, statistics from the run counters, echo without passwords', () => {
  const req = request({ relationalTableFilters: { public: { orders: { whereClause: 'id > 1' } } } });
  const spec = { id: 's1', ...toStreamInput(req, { sourceId: 'a', sinkId: 'b' }) };
  spec.relationalTableFilters!.public!.orders = { whereClause: 'id > 1', includeColumns: ['id'] };
  const v = toJobView({
    job: { id: 's1', projectId: 'p1', submittedAt: '2026-01-01T00:00:00.000Z', echo: toEcho(req, { jdbc: 'jdbc:postgresql://h/d', mongodb: 'mongodb://h/t' }) },
    stream: { spec, state: 'STREAMING', error: null, createdAt: '', updatedAt: '' },
    live: live(),
    snapshotDone: true,
    updates: [{ id: 2, streamId: 's1', runId: 'r1', timestamp: '2026-01-01T00:00:01.000Z', level: 'INFO', stage: 'SNAPSHOT', message: 'snapshot done' }],
    now: new Date('2026-01-01T00:01:30.000Z'),
  });
  assert.equal(v.id, 's1');
  assert.equal(v.projectId, 'p1');
  assert.equal(v.status, 'RUNNING');
  assert.equal(v.cdcStatus, 'RUNNING');
  assert.deepEqual(v.options, { dropCollections: false, mode: 'CDC', errorHandling: 'SKIP', errorTolerance: 5 });
  assert.deepEqual(v.statistics, { startedAt: '2026-01-01T00:00:00.000Z', elapsedSeconds: 90, totalEventsSeen: 10, snapshotCompleted: true, totalTableCount: 1, totalEvents: 10 });
  assert.deepEqual(v.cdcStatistics, { totalEventsSeen: 2 }, 'when the CDC phase began after the snapshot is not recorded: not claimed');
  assert.deepEqual(v.jobUpdates, [{ eventType: 'INFO', stage: 'SNAPSHOTTING', message: 'snapshot done', timestamp: '2026-01-01T00:00:01.000Z' }]);
  assert.deepEqual(v.metadata, { verificationRequested: true });
  assert.deepEqual(v.atlasMetadata, { mongoDbProjectName: 'proj', mongoDbClusterName: 'c0' });
  assert.deepEqual(v.relationalTableFilters, { public: { orders: { whereClause: 'id > 1' } } }, 'only the fields RM knows');
  assert.equal('failureError' in v, false);
});

test('the run\'s CDC activity fills cdcStatistics; a CDC_ONLY run\'s start is its CDC start', () => {
  const spec = { id: 's1', ...toStreamInput(request({ options: { mode: 'CDC_ONLY' } }), { sourceId: 'a', sinkId: 'b' }) };
  const v = toJobView({
    job: { id: 's1', projectId: 'p1', submittedAt: '2026-01-01T00:00:00.000Z', echo: { jdbcConnectionString: 'j', mongoDbConnectionString: 'm', verificationRequested: false } },
    stream: { spec, state: 'STREAMING', error: null, createdAt: '', updatedAt: '' },
    live: live({ mode: 'CDC_ONLY', cdcActivity: { lastEventTime: '2026-01-01T00:00:09.000Z', eventsInLastMinute: 2, eventsInLastHour: 2 } }),
    snapshotDone: true,
    updates: [],
  });
  assert.deepEqual(v.cdcStatistics, { startedAt: '2026-01-01T00:00:00.000Z', lastEventTime: '2026-01-01T00:00:09.000Z', eventsInLastHour: 2, eventsInLastMinute: 2, totalEventsSeen: 2 });
});

test('a failed job carries failureError; a finished run\'s counters and times come from the run history', () => {
  const spec = { id: 's1', ...toStreamInput(request({ options: { mode: 'SNAPSHOT' } }), { sourceId: 'a', sinkId: 'b' }) };
  const v = toJobView({
    job: { id: 's1', projectId: 'p1', submittedAt: '2026-01-01T00:00:00.000Z', echo: { jdbcConnectionString: 'j', mongoDbConnectionString: 'm', verificationRequested: false } },
    stream: { spec, state: 'FAILED', error: null, createdAt: '', updatedAt: '' },
    live: live({ state: 'FAILED', status: 'FAILED', cdcStatus: 'NOT_STARTED', mode: 'SNAPSHOT', runId: null, startedAt: null, error: { code: 'SOURCE_UNREACHABLE', message: 'down' } }),
    lastRun: { id: 'r1', streamId: 's1', startedAt: '2026-01-01T00:00:00.000Z', endedAt: '2026-01-01T00:00:07.000Z', status: 'FAILED', counters: { snapshotRows: 4 }, failureError: { code: 'SOURCE_UNREACHABLE', message: 'down' } },
    snapshotDone: false,
    updates: [{ id: 1, streamId: 's1', runId: 'r1', timestamp: '2026-01-01T00:00:07.000Z', level: 'ERROR', stage: 'INITIALIZATION', message: 'down', errorCode: 'SOURCE_UNREACHABLE' }],
  });
  assert.equal(v.status, 'FAILED');
  assert.equal(v.statistics.elapsedSeconds, 7);
  assert.equal(v.statistics.totalEventsSeen, 4);
  assert.equal('cdcStatistics' in v, false, 'a SNAPSHOT job has no CDC phase');
  assert.deepEqual(v.failureError, { errorType: 'SOURCE_UNREACHABLE', message: 'down', failureAt: '2026-01-01T00:00:07.000Z', setupError: true });
  assert.deepEqual(v.jobUpdates[0], { eventType: 'ERROR', message: 'down', details: 'stage INITIALIZATION', timestamp: '2026-01-01T00:00:07.000Z', errorCode: 'SOURCE_UNREACHABLE' });
});

test('job updates naming a table carry RM\'s location; RM\'s error body has jobId, message, description, timestamp', () => {
  const u = toRmUpdate({ id: 1, streamId: 's', runId: null, timestamp: 't', level: 'WARNING', stage: 'CDC', message: 'm', detail: { table: 'public.a' } });
  assert.equal(u.stage, 'STREAMING');
  assert.equal(u.locationType, 'TABLE');
  assert.equal(u.locationName, 'public.a');
  assert.deepEqual(rmError('m', 'd', 'j1', new Date(0)), { jobId: 'j1', message: 'm', description: 'd', timestamp: '1970-01-01T00:00:00.000Z' });
  assert.equal('jobId' in rmError('m', 'd'), false);
});
