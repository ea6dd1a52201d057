import { isRetryable } from './errors.js';
import { BACKGROUND_RETRY_MAX_MS } from '../tuning.js';

/**
 * Bounded retries with exponential backoff and full jitter (delay drawn uniformly from
 * [0, min(maxDelay, base·2^attempt)]), so a crowd of clients hitting the same throttled
 * bucket spreads out instead of retrying in lock-step.
 */
export interface RetryPolicy {
  /** Total tries, the first one included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** No new try starts once this much time has passed since the first one. */
  totalMs: number;
}

export { DEFAULT_RETRY_POLICY } from '../tuning.js';

/** The wait before the next try of background work whose last wait was `previousMs`: twice as long, capped. */
export function nextBackgroundDelay(previousMs: number): number {
  return Math.min(previousMs * 2, BACKGROUND_RETRY_MAX_MS);
}

/** The delay before retry number `retry` (0 for the first retry). */
export function backoffDelay(policy: RetryPolicy, retry: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.random() * cap;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Tracks one run of retries: whether another try is allowed and how long to wait before it.
 * Shared by whole-request retries and by the mid-body resume of a GET.
 */
export class RetryBudget {
  private startedAt = Date.now();
  private failures = 0;

  constructor(private readonly policy: RetryPolicy) {}

  /**
   * After a failed try: waits out the backoff and returns true when another try may follow (the
   * error is one a retry can cure and the budget is not spent), else returns false at once.
   * `progressed`: bytes arrived since the last failure, so the count starts afresh. `waiting`
   * hears, before the wait, how long it is and how many tries have failed in this run.
   */
  async again(err: unknown, progressed = false, waiting?: (delayMs: number, failures: number) => void): Promise<boolean> {
    if (progressed) {
      this.failures = 0;
      this.startedAt = Date.now();
    }
    if (!isRetryable(err)) return false;
    const retry = this.failures++;
    if (this.failures >= this.policy.attempts) return false;
    const delay = backoffDelay(this.policy, retry);
    if (Date.now() + delay - this.startedAt > this.policy.totalMs) return false;
    waiting?.(delay, this.failures);
    await sleep(delay);
    return true;
  }
}

/**
 * `onRetry` hears of each failed try that another follows, before the wait: how many tries have
 * failed so far and how long until the next.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  op: () => Promise<T>,
  onRetry?: (err: unknown, tries: number, delayMs: number) => void,
): Promise<T> {
  const budget = new RetryBudget(policy);
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if (!(await budget.again(err, false, (delayMs, tries) => onRetry?.(err, tries, delayMs)))) throw err;
    }
  }
}
