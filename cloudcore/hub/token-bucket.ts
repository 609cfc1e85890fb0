/**
 * A token bucket: `burst` tokens, refilled at `ratePerSecond`. Admission of new tunnels goes through
 * one, so a reconnect storm (a replica died; thousands of edges dial at once) is let in at a rate
 * the replica can serve, and the rest are told to come back later.
 */
export class TokenBucket {
  #tokens: number;
  #updatedAt: number;

  constructor(
    private readonly options: {
      readonly ratePerSecond: number;
      readonly burst: number;
      readonly now?: () => number;
    },
  ) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1))
      throw new RangeError("token bucket needs ratePerSecond > 0 and burst >= 1");
    this.#tokens = options.burst;
    this.#updatedAt = this.#now();
  }

  /** Takes one token if there is one. */
  take(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until the next token (0 if one is there). */
  retryAfterMs(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.options.ratePerSecond) * 1000);
  }

  #refill(): void {
    const now = this.#now();
    const elapsed = Math.max(0, now - this.#updatedAt) / 1000;
    this.#tokens = Math.min(this.options.burst, this.#tokens + elapsed * this.options.ratePerSecond);
    this.#updatedAt = now;
  }

  #now(): number {
    return (this.options.now ?? Date.now)();
  }
}
