/**
 * How often a lab event that failed is tried again: the queue hides it for a delay that starts at a
 * minute and doubles up to two hours, so a short outage is over within minutes and a long one costs
 * about a dozen attempts a day. LAB_EVENT_MAX_RECEIVES, the receive count at which the router parks
 * an event that fails again, then decides how long the retries span.
 */
export const FIRST_DELAY_SECONDS = 60;
export const MAX_DELAY_SECONDS = 2 * 60 * 60;
/** Retries must outlast a day-long outage of LiteLLM or AWS. */
export const MIN_RETRY_SPAN_SECONDS = 24 * 60 * 60;

/** How long the event stays hidden after its `receiveCount`-th attempt failed. */
export function retryDelaySeconds(receiveCount: number): number {
  const doublings = Math.max(0, Math.floor(receiveCount) - 1);
  // 2^7 minutes already passes the cap: no need to raise 2 to a large power.
  return doublings >= 7
    ? MAX_DELAY_SECONDS
    : Math.min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** doublings);
}

/** The time from an event's first attempt to its last when every one of `maxReceives` attempts fails. */
export function retrySpanSeconds(maxReceives: number): number {
  let span = 0;
  for (let attempt = 1; attempt < maxReceives; attempt++) span += retryDelaySeconds(attempt);
  return span;
}
