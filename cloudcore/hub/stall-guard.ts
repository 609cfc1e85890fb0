/**
 * Tells a periodic check whether it runs on time or after its process stalled (a long GC pause, a
 * starved CPU). A timer that fires late fires before the socket reads that piled up meanwhile, so
 * a check that judges peers by what it has read would blame them for the process's own stall.
 */
export class StallGuard {
  #last: number;

  constructor(
    private readonly intervalMs: number,
    now: number,
  ) {
    this.#last = now;
  }

  /**
   * Records a tick at `now`. Returns how many ms it came late when that is more than one whole
   * interval (the process stalled: skip judging this round), else 0.
   */
  tick(now: number): number {
    const late = now - this.#last - this.intervalMs;
    this.#last = now;
    return late > this.intervalMs ? late : 0;
  }
}
