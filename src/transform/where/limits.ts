/**
 * Bounds on what a whereClause may ask of the passes over its tree and of the
 * databases (issue 22): a clause past them is refused with FILTER_CLAUSE_INVALID when
 * the stream is created, instead of a stack overflow (a 500) or a failure at every start.
 */
import type { Interval } from './ir';

/** PostgreSQL's dates span 4713 BC to 294276 AD: a longer interval fails every query that adds it. */
export const MAX_INTERVAL_YEARS = 300_000;

/** The deepest a clause's parse tree may be (objects nested in the parser's AST). */
export const MAX_DEPTH = 400;

/** The nesting depth of the parser's tree, found without recursion. */
export function treeDepth(root: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length) {
    const [node, d] = stack.pop()!;
    if (d > max) max = d;
    if (d > MAX_DEPTH) return d;
    for (const [k, v] of Object.entries(node as object)) {
      if (k !== 'loc' && v !== null && typeof v === 'object') stack.push([v, d + 1]);
    }
  }
  return max;
}

/** Whether an INTERVAL literal spans more than MAX_INTERVAL_YEARS in any of its parts. */
export function intervalTooLong(v: Interval): boolean {
  return Math.abs(v.months) > MAX_INTERVAL_YEARS * 12 || Math.abs(v.days) > MAX_INTERVAL_YEARS * 366 || Math.abs(v.ms) > MAX_INTERVAL_YEARS * 366 * 86_400_000;
}
