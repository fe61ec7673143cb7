import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { HEAP_GROWING_PERCENT, heapGrowingSet, tuneHeap } from './heap';

test('the heap growing factor is set unless the command line or NODE_OPTIONS set it', () => {
  const set: string[] = [];
  assert.equal(tuneHeap([], undefined, (f) => set.push(f)), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  assert.deepEqual(set, [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`]);
  assert.equal(tuneHeap(['--heap-growing-percent=80'], undefined, (f) => set.push(f)), null);
  assert.equal(tuneHeap(['--max-old-space-size=512', '--heap_growing_percent=5'], '', (f) => set.push(f)), null);
  assert.equal(tuneHeap([], '--enable-source-maps --heap-growing-percent=10', (f) => set.push(f)), null);
  assert.equal(set.length, 1, 'an operator\'s own flag is never overridden');
  assert.equal(heapGrowingSet(['--heap-growing-percentage=1'], undefined), false, 'another flag with the same start is not this one');
  assert.equal(heapGrowingSet([], '--max-old-space-size=100'), false);
});

test('V8 accepts the flag at run time and a churning heap stays smaller with it', () => {
  // A child process each: V8 flags are per process. Objects allocated and dropped with a
  // ~20 MB live set; the peak heap V8 reserved is compared without and with the factor.
  const script = `
    const { tuneHeap } = require(${JSON.stringify(require.resolve('./heap'))});
    if (process.argv[1] === 'tuned') tuneHeap([], undefined);
    const keep = new Array(50000); let peak = 0;
    for (let i = 0; i < 600000; i++) {
      keep[i % keep.length] = { s: 'x'.repeat(300) + i, a: [i, i + 1] };
      if (i % 500 === 0) peak = Math.max(peak, process.memoryUsage().heapTotal);
    }
    process.stdout.write(String(peak));`;
  const peak = (mode: string) => Number(spawnSync(process.execPath, ['-e', script, mode], { encoding: 'utf8' }).stdout);
  const plain = peak('plain');
  const tuned = peak('tuned');
  process.stderr.write(`heap peak: default ${(plain / 1048576).toFixed(0)} MB, tuned ${(tuned / 1048576).toFixed(0)} MB\n`);
  assert.ok(plain > 0 && tuned > 0, `both runs report a peak (${plain}, ${tuned})`);
  assert.ok(tuned < plain * 0.9, `the tuned heap peaks lower (${(tuned / 1048576).toFixed(0)} MB) than the default (${(plain / 1048576).toFixed(0)} MB)`);
});
