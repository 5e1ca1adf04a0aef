/**
 * When and how long to wait before trying a request again.
 *
 * The decision reads the error's `retriable` flag and nothing else (tulios/kafkajs/src/retry): the
 * broker's table in `src/errors.ts` says which codes are transient, and the client's own
 * `BrokerUnreachableError` is retriable. Programming errors (`TypeError`, `RangeError`, …) are
 * never retried, whatever they carry. The caller adds its own veto (`shouldRetry`), which is where
 * "do not repeat a non-idempotent write that may have landed" lives.
 *
 * Waits grow exponentially with jitter, so many clients that lost the same broker do not all come
 * back in the same millisecond. Both the number of attempts and the total time are bounded; a
 * `Retry-After` hint from the broker stretches a wait but never past the total budget.
 */

export interface RetryOptions {
  /** Attempts in all, the first included. Default 8. */
  maxAttempts?: number
  /** Wait before the second attempt. Default 100 ms. */
  initialDelayMs?: number
  /** Upper bound on a single wait. Default 5 s. */
  maxDelayMs?: number
  /** Growth of the wait per attempt. Default 2. */
  multiplier?: number
  /** Fraction of each wait that is random: 0.5 means 50–150 % of the nominal wait. Default 0.5. */
  jitter?: number
  /** Give up when the next attempt would start later than this after the first. Default 30 s. */
  maxElapsedMs?: number
}

export type RetryPolicy = Required<RetryOptions>

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  maxAttempts: 8,
  initialDelayMs: 100,
  maxDelayMs: 5_000,
  multiplier: 2,
  jitter: 0.5,
  maxElapsedMs: 30_000,
})

export function retryPolicy(options: RetryOptions | undefined): RetryPolicy {
  return { ...DEFAULT_RETRY, ...stripUndefined(options ?? {}) }
}

const retryAfterByError = new WeakMap<object, number>()

/** Remembers the broker's `Retry-After` for this error instance (the transport calls this). */
export function rememberRetryAfter(err: object, ms: number | undefined): void {
  if (ms !== undefined) retryAfterByError.set(err, ms)
}

export function retryAfterOf(err: unknown): number | undefined {
  return err !== null && typeof err === 'object' ? retryAfterByError.get(err) : undefined
}

/** True when the error says a later attempt may succeed. Unknown shapes and programming errors say no. */
export function isRetriable(err: unknown): boolean {
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) return false
  if (err instanceof ReferenceError || err instanceof EvalError) return false
  return err !== null && typeof err === 'object' && (err as { retriable?: unknown }).retriable === true
}

/** The wait before retry number `retry` (0 = the wait before the second attempt). */
export function backoffDelayMs(
  retry: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const nominal = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** retry)
  const spread = nominal * policy.jitter
  return Math.max(0, Math.round(nominal - spread + 2 * spread * random()))
}

export interface RetryContext {
  /** 1 for the first attempt. */
  attempt: number
}

export interface RetryHooks {
  /** A veto on top of `isRetriable`, e.g. "not after a write that may have landed". */
  shouldRetry?: (err: unknown, attempt: number) => boolean
  /** A wait the caller knows better, e.g. 0 after `NOT_LEADER` named the new leader. */
  delayHintMs?: (err: unknown) => number | undefined
  /** Runs during the wait, e.g. a metadata refresh; its failure does not stop the retries. */
  beforeRetry?: (err: unknown, attempt: number) => Promise<void> | void
  /** Told of every retry before its wait, so the application can see a client that is struggling. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void
  signal?: AbortSignal | undefined
  random?: () => number
  now?: () => number
}

/**
 * Runs `fn` until it succeeds, the error is not retriable, or the policy's attempts or time run
 * out; then the last error is thrown unchanged, so callers still see the broker's typed error.
 */
export async function withRetry<T>(
  fn: (ctx: RetryContext) => Promise<T>,
  policy: RetryPolicy,
  hooks: RetryHooks = {},
): Promise<T> {
  const now = hooks.now ?? Date.now
  const started = now()
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn({ attempt })
    } catch (err) {
      if (attempt >= policy.maxAttempts || !isRetriable(err)) throw err
      if (hooks.shouldRetry && !hooks.shouldRetry(err, attempt)) throw err
      if (hooks.signal?.aborted) throw err
      const delay = retryDelayMs(err, attempt, policy, hooks)
      if (now() + delay - started > policy.maxElapsedMs) throw err
      hooks.onRetry?.(err, attempt, delay)
      const refresh = Promise.resolve()
        .then(() => hooks.beforeRetry?.(err, attempt))
        .catch(() => undefined)
      await Promise.all([sleep(delay, hooks.signal), refresh])
      if (hooks.signal?.aborted) throw err
    }
  }
}

function retryDelayMs(err: unknown, attempt: number, policy: RetryPolicy, hooks: RetryHooks): number {
  const hinted = hooks.delayHintMs?.(err)
  if (hinted !== undefined) return hinted
  const backoff = backoffDelayMs(attempt - 1, policy, hooks.random)
  const retryAfter = retryAfterOf(err)
  return retryAfter === undefined ? backoff : Math.max(backoff, retryAfter)
}

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
