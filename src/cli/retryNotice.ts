import type { RetryListener, RetryNotice } from '../store/ossStore.js';
import { printable } from '../util/printable.js';
import { clearStatus, sayStatus } from './progress.js';

/** `retrying PUT oss://b/k: connection refused (attempt 3, next in 0.4 s)` */
export function describeRetry(n: RetryNotice): string {
  const seconds = n.delayMs / 1000;
  const wait = seconds < 10 ? seconds.toFixed(1) : String(Math.round(seconds));
  return printable(`retrying ${n.op} ${n.url}: ${n.reason} (attempt ${n.attempt}, next in ${wait} s)`);
}

/** What a command does with its store's retries: says each while it waits (see sayStatus), and takes it back once the request went through. */
export function sayRetries(quiet: boolean): RetryListener {
  return { retrying: (n) => sayStatus(describeRetry(n), quiet), recovered: clearStatus };
}
