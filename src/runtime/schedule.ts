/**
 * Cron schedules of SNAPSHOT streams: validation and next-run computation (pure),
 * and the timers (`Scheduler`), one croner job per scheduled stream. What a tick
 * does is the supervisor's business; this module only calls it back.
 */
import { Cron } from 'croner';
import type { StreamSpec, StreamSchedule } from '../core';
import { SluiceError } from '../errors';

export const DEFAULT_TIMEZONE = 'UTC';

/** The schedule's timezone, UTC when the spec names none. */
export const timezoneOf = (schedule: StreamSchedule): string => schedule.timezone ?? DEFAULT_TIMEZONE;

/**
 * A schedule the API may store: only on SNAPSHOT streams, a cron expression croner
 * accepts, an IANA timezone. Throws VALIDATION_FAILED naming the field, with croner's reason.
 */
export function validateSchedule(stream: Pick<StreamSpec, 'mode' | 'schedule'>): void {
  const schedule = stream.schedule;
  if (!schedule) return;
  if (stream.mode !== 'SNAPSHOT') {
    throw new SluiceError(
      'VALIDATION_FAILED',
      `body field "schedule" is only allowed on a SNAPSHOT stream (this one is ${stream.mode}): a CDC stream runs continuously`,
      { field: 'schedule', mode: stream.mode },
      { suggestion: 'Remove "schedule", or set "mode" to "SNAPSHOT".' },
    );
  }
  const timezone = timezoneOf(schedule);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch (err) {
    throw new SluiceError(
      'VALIDATION_FAILED',
      `body field "schedule.timezone" is not a timezone: ${(err as Error).message}`,
      { field: 'schedule.timezone', value: timezone, reason: (err as Error).message },
      { suggestion: 'Use an IANA timezone name such as "UTC" or "Europe/Berlin".' },
    );
  }
  let next: Date | null;
  try {
    next = new Cron(schedule.cron, { timezone }).nextRun();
  } catch (err) {
    throw new SluiceError(
      'VALIDATION_FAILED',
      `body field "schedule.cron" is not a valid cron expression: ${(err as Error).message}`,
      { field: 'schedule.cron', value: schedule.cron, reason: (err as Error).message },
      { suggestion: 'Use five fields (minute hour day-of-month month day-of-week), or six with seconds first, e.g. "0 2 * * *".' },
    );
  }
  if (next === null) {
    throw new SluiceError('VALIDATION_FAILED', `body field "schedule.cron" ("${schedule.cron}") never fires`, { field: 'schedule.cron', value: schedule.cron });
  }
}

/** When the schedule fires next after `from` (default now); null when it never does again. */
export function nextRunAfter(schedule: StreamSchedule, from: Date = new Date()): Date | null {
  return new Cron(schedule.cron, { timezone: timezoneOf(schedule) }).nextRun(from);
}

/** Whether a spec is armed: a schedule on a SNAPSHOT stream (anything else was refused by the API). */
export const isScheduled = (spec: Pick<StreamSpec, 'mode' | 'schedule'> | undefined): spec is Pick<StreamSpec, 'mode'> & { schedule: StreamSchedule } =>
  spec?.mode === 'SNAPSHOT' && spec.schedule !== undefined;

/** One croner job per stream; re-arming replaces the job. */
export class Scheduler {
  readonly #jobs = new Map<string, { job: Cron; key: string }>();
  #stopped = false;

  constructor(private readonly onError: (streamId: string, err: unknown) => void) {}

  /**
   * Arms (or re-arms) `streamId` to call `onTick` at each time `schedule` names. An
   * unchanged schedule keeps its job. Throws for an expression croner refuses.
   * Returns whether a job was (re)created.
   */
  arm(streamId: string, schedule: StreamSchedule, onTick: () => Promise<unknown>): boolean {
    if (this.#stopped) return false;
    const key = `${schedule.cron}\u0000${timezoneOf(schedule)}`;
    const current = this.#jobs.get(streamId);
    if (current?.key === key) return false;
    current?.job.stop();
    const job = new Cron(schedule.cron, { timezone: timezoneOf(schedule) }, () => {
      // The tick itself never throws into croner: a failure is reported, the job goes on.
      onTick().catch((err: unknown) => this.onError(streamId, err));
    });
    this.#jobs.set(streamId, { job, key });
    return true;
  }

  disarm(streamId: string): void {
    this.#jobs.get(streamId)?.job.stop();
    this.#jobs.delete(streamId);
  }

  isArmed(streamId: string): boolean {
    return this.#jobs.has(streamId);
  }

  /** The armed job's next fire time, null when unarmed (or it never fires again). */
  nextRun(streamId: string): Date | null {
    return this.#jobs.get(streamId)?.job.nextRun() ?? null;
  }

  /** Stops every job; later arms are ignored (the daemon is shutting down). */
  stopAll(): void {
    this.#stopped = true;
    for (const { job } of this.#jobs.values()) job.stop();
    this.#jobs.clear();
  }
}
