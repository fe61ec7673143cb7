/**
 * How many change events a run saw in the last minute and the last hour, and when the
 * last one came (Relational Migrator's cdcStatistics). One counter per second over the
 * past hour, so the memory per stream is fixed whatever the event rate.
 */
const WINDOW_S = 3600;

export interface EventActivity {
  lastEventTime: string | null;
  eventsInLastMinute: number;
  eventsInLastHour: number;
}

export class EventRate {
  readonly #counts = new Float64Array(WINDOW_S);
  /** The second (since the epoch) each slot was last written for. */
  readonly #seconds = new Float64Array(WINDOW_S).fill(-1);
  #last: number | null = null;

  record(events: number, now = Date.now()): void {
    if (events <= 0) return;
    const s = Math.floor(now / 1000);
    const i = s % WINDOW_S;
    if (this.#seconds[i] !== s) {
      this.#seconds[i] = s;
      this.#counts[i] = 0;
    }
    this.#counts[i] += events;
    this.#last = now;
  }

  activity(now = Date.now()): EventActivity {
    const s = Math.floor(now / 1000);
    let minute = 0;
    let hour = 0;
    for (let i = 0; i < WINDOW_S; i++) {
      const age = s - this.#seconds[i]!;
      if (age < 0 || age >= WINDOW_S) continue;
      hour += this.#counts[i]!;
      if (age < 60) minute += this.#counts[i]!;
    }
    return { lastEventTime: this.#last === null ? null : new Date(this.#last).toISOString(), eventsInLastMinute: minute, eventsInLastHour: hour };
  }
}
