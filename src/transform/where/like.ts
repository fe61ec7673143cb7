/**
 * LIKE / ILIKE over row values without a backtracking regular expression (issue 22,
 * finding 2). The old predicate turned `%a%a%a%a%b` into `^[\s\S]*a[\s\S]*a…b$`, which
 * backtracks exponentially: one 170-character row froze the daemon for 8.7 s.
 *
 * Here the pattern is cut at its `%` into segments of fixed length (literal characters
 * and `_`). A segment is matched by a regular expression with no quantifier and no
 * alternation, so one attempt costs at most its length and never backtracks; the `%`
 * between segments is this code's loop: the first segment must match at the start, the
 * last at the end, and each one between at its leftmost place after the previous one.
 * Taking the leftmost place is always right for fixed-length segments (any later place
 * leaves less text for what follows), so a value is read at most once per segment:
 * O(value length x pattern length) in the worst case, linear for a fixed pattern.
 *
 * Characters compare exactly as before (the same regular expression syntax per
 * character: `u`, plus `i` for ILIKE), so the clause table test against the databases
 * (where.integration.test.ts) holds the semantics.
 *
 * The work is capped per row: each segment search is charged its worst case (characters
 * left x segment length) and a row that would pass LIKE_MAX_STEPS is refused with
 * FILTER_EVALUATION_LIMIT instead of being matched (README, "Filters").
 */
import { SluiceError } from '../../errors';

/** Worst-case character comparisons one row may cost its LIKEs (~0.1-0.3 s of CPU at most). */
export const LIKE_MAX_STEPS = 100_000_000;

/** Work done for one row, shared by every LIKE of its clause. */
export interface WorkMeter {
  steps: number;
}

interface Segment {
  /** Anchored at a position (sticky). */
  at: RegExp;
  /** Found from a position onwards (global). */
  find: RegExp;
  /** Code points it matches. */
  length: number;
}

export interface LikeMatcher {
  test(value: string, meter?: WorkMeter): boolean;
}

const escapeRe = (s: string): string => s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

/**
 * Compiles a LIKE pattern: `%` any run, `_` one character, `escape` quotes the next
 * character (a trailing escape character is read as if unescaped), `ci` compares as ILIKE.
 */
export function compileLike(pattern: string, escape: string, ci: boolean): LikeMatcher {
  const flags = ci ? 'iu' : 'u';
  // Per segment: its regular expression source, and its characters (`_` as one) to count code points.
  const sources: Array<{ src: string; chars: string }> = [];
  let cur = { src: '', chars: '' };
  let leadingAny = false;
  let trailingAny = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (escape && ch === escape && i + 1 < pattern.length) {
      const next = pattern[++i]!;
      cur.src += escapeRe(next);
      cur.chars += next;
      trailingAny = false;
    } else if (ch === '%') {
      if (sources.length === 0 && cur.src === '') leadingAny = true;
      if (cur.src !== '') sources.push(cur);
      cur = { src: '', chars: '' };
      trailingAny = true;
    } else if (ch === '_') {
      cur.src += '[\\s\\S]';
      cur.chars += '_';
      trailingAny = false;
    } else {
      cur.src += escapeRe(ch);
      cur.chars += ch;
      trailingAny = false;
    }
  }
  if (cur.src !== '') sources.push(cur);
  const segments: Segment[] = sources.map(({ src, chars }) => ({ at: new RegExp(src, `${flags}y`), find: new RegExp(src, `${flags}g`), length: Array.from(chars).length }));

  // No % at all: the whole value, once.
  if (!leadingAny && !trailingAny && segments.length <= 1) {
    const whole = new RegExp(`^${sources[0]?.src ?? ''}$`, flags);
    return {
      test(value, meter) {
        charge(meter, value.length, segments[0]?.length ?? 0);
        return whole.test(value);
      },
    };
  }
  return {
    test(value, meter) {
      let pos = 0;
      let first = 0;
      let last = segments.length;
      if (!leadingAny) {
        const s = segments[0]!;
        charge(meter, 1, s.length);
        s.at.lastIndex = 0;
        if (!s.at.exec(value)) return false;
        pos = s.at.lastIndex;
        first = 1;
      }
      let tail: number | null = null;
      if (!trailingAny && last > first) {
        const s = segments[last - 1]!;
        const start = backCodePoints(value, s.length);
        if (start < pos) return false;
        charge(meter, 1, s.length);
        s.at.lastIndex = start;
        const m = s.at.exec(value);
        if (!m || s.at.lastIndex !== value.length) return false;
        tail = start;
        last--;
      }
      const end = tail ?? value.length;
      for (let k = first; k < last; k++) {
        const s = segments[k]!;
        charge(meter, end - pos, s.length);
        s.find.lastIndex = pos;
        const m = s.find.exec(value);
        if (!m || s.find.lastIndex > end) return false;
        pos = s.find.lastIndex;
      }
      return true;
    },
  };
}

/** The index `n` code points before the end of `s` (-1 when `s` is shorter). */
function backCodePoints(s: string, n: number): number {
  let i = s.length;
  for (let k = 0; k < n; k++) {
    if (i <= 0) return -1;
    i--;
    const c = s.charCodeAt(i);
    if (c >= 0xdc00 && c <= 0xdfff && i > 0) {
      const h = s.charCodeAt(i - 1);
      if (h >= 0xd800 && h <= 0xdbff) i--;
    }
  }
  return i;
}

function charge(meter: WorkMeter | undefined, chars: number, segment: number): void {
  if (!meter) return;
  meter.steps += Math.max(1, chars) * Math.max(1, segment);
  if (meter.steps > LIKE_MAX_STEPS) {
    throw new SluiceError(
      'FILTER_EVALUATION_LIMIT',
      `a LIKE of the whereClause would need more than ${LIKE_MAX_STEPS} character comparisons on this row (value of ${chars} characters against pattern runs of ${segment})`,
      { limit: LIKE_MAX_STEPS },
    );
  }
}
