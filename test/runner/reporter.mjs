// The reporter test/runner/run-files.js gives each `node --test <file>`: node's spec
// output for people, minus the per-file totals (the runner prints one summary for the
// whole run), and one JSON line per test event on the file descriptor named by
// SLUICE_TEST_EVENTS_FD, from which the runner counts results and sees when a file's
// tests have all ended (so that a process that does not exit afterwards is caught).
import fs from 'node:fs';
import { spec } from 'node:test/reporters';

const fd = Number(process.env.SLUICE_TEST_EVENTS_FD ?? -1);
const TOTALS = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /;
const SpecReporter = Object.getPrototypeOf(new spec()).constructor;

function emit(record) {
  if (fd < 0) return;
  try {
    fs.writeSync(fd, `${JSON.stringify(record)}\n`);
  } catch {
    // The runner is gone: nobody to tell.
  }
}

export default class FileReporter extends SpecReporter {
  _transform(event, encoding, callback) {
    const d = event.data ?? {};
    // The test node creates for the file itself carries the file's path as its name.
    const fileLevel = d.file !== undefined && d.name === d.file;
    switch (event.type) {
      case 'test:enqueue':
        if (!fileLevel) emit({ e: 'enqueue', nesting: d.nesting, name: d.name });
        break;
      case 'test:pass':
      case 'test:fail':
        emit({
          e: event.type === 'test:pass' ? 'pass' : 'fail',
          nesting: d.nesting,
          name: d.name,
          fileLevel,
          suite: d.details?.type === 'suite',
          skip: d.skip !== undefined,
          todo: d.todo !== undefined,
          error: event.type === 'test:fail' ? String(d.details?.error?.cause?.message ?? d.details?.error?.message ?? '').slice(0, 300) : undefined,
        });
        break;
      default:
    }
    if (event.type === 'test:diagnostic' && d.nesting === 0 && TOTALS.test(d.message ?? '')) {
      callback();
      return;
    }
    super._transform(event, encoding, callback);
  }
}
