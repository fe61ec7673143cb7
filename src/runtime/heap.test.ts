import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { heapGrowingSet, tuneHeap } from './heap';

test('the heap growing factor is set when configured, unless the command line or NODE_OPTIONS set it', () => {
  const set: string[] = [];
  const into = (f: string) => void set.push(f);
  assert.equal(tuneHeap(0, [], undefined, into), null, '0 leaves V8 its own factor');
  assert.equal(tuneHeap(30, [], undefined, into), '--heap-growing-percent=30');
  assert.deepEqual(set, ['--heap-growing-percent=30']);
  assert.equal(tuneHeap(30, ['--heap-growing-percent=80'], undefined, into), null);
  assert.equal(tuneHeap(30, ['--max-old-space-size=512', '--heap_growing_percent=5'], '', into), null);
  assert.equal(tuneHeap(30, [], '--enable-source-maps --heap-growing-percent=10', into), null);
  assert.equal(set.length, 1, "an operator's own flag is never overridden");
  assert.equal(heapGrowingSet(['--heap-growing-percentage=1'], undefined), false, 'another flag with the same start is not this one');
  assert.equal(heapGrowingSet([], '--max-old-space-size=100'), false);
});

test('V8 takes the factor at run time: a churning heap peaks lower with it', () => {
  // A child process each (V8 flags are per process): objects allocated and dropped over a
  // ~20 MB live set; the peak heap V8 reserved, without and with a factor of 1.3.
  const script = `
    const { tuneHeap } = require(${JSON.stringify(require.resolve('./heap'))});
    if (process.argv[1] === 'tuned') tuneHeap(30, [], undefined);
    const keep = new Array(50000); let peak = 0;
    for (let i = 0; i < 600000; i++) {
      keep[i % keep.length] = { s: 'x'.repeat(300) + i, a: [i, i + 1] };
      if (i % 500 === 0) peak = Math.max(peak, process.memoryUsage().heapTotal);
    }
    process.stdout.write(String(peak));`;
  const peak = (mode: string) => Number(spawnSync(process.execPath, ['-e', script, mode], { encoding: 'utf8' }).stdout);
  const plain = peak('plain');
  const tuned = peak('tuned');
  assert.ok(plain > 0 && tuned > 0, `both runs report a peak (${plain}, ${tuned})`);
  assert.ok(tuned < plain * 0.9, `the tuned heap peaks lower (${(tuned / 1048576).toFixed(0)} MB) than the default (${(plain / 1048576).toFixed(0)} MB)`);
});
