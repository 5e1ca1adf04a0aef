/**
 * What every CLI command runs with: the streams it talks through, the exit codes it may return,
 * and one broker client shared by the command and closed when it ends.
 *
 * Streams are passed in rather than taken from `process`, so tests run `runCli` in-process and
 * read what a person would have seen. Exit codes are a contract with scripts (documented in
 * `strata --help`): they depend only on the kind of failure, never on its message.
 */
import type { Readable, Writable } from 'node:stream'
import { BrokerClient } from '../client/broker-client.js'
import { BrokerUnreachableError } from '../client/client-errors.js'
import { DEFAULT_URL } from '../client/server-pool.js'
import type { ClientTlsOptions } from '../client/transport.js'

export const ExitCodes = {
  /** The command did what it was asked. */
  OK: 0,
  /** The broker answered with an error (unknown topic, topic exists, …); its code is printed. */
  BROKER_ERROR: 1,
  /** The command line is wrong: unknown command or option, missing or malformed argument. */
  USAGE: 2,
  /** No broker answered: refused, cut or timed out on every URL. */
  UNREACHABLE: 3,
  /** Stopped by SIGINT or SIGTERM before it finished (what was confirmed stays confirmed). */
  INTERRUPTED: 130,
} as const

export type ExitCode = (typeof ExitCodes)[keyof typeof ExitCodes]

export interface OutputStream extends Writable {
  isTTY?: boolean
  columns?: number
}

export interface CliIo {
  stdout: OutputStream
  stderr: OutputStream
  stdin: Readable
  env: Record<string, string | undefined>
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }
}

/** A wrong command line; `runCli` prints it with a pointer to `--help` and exits 2. */
export class UsageError extends Error {
  readonly helpFor: string | undefined

  constructor(message: string, helpFor?: string) {
    super(message)
    this.name = 'UsageError'
    this.helpFor = helpFor
  }
}

/** The exit code for an error that ended a command. */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof UsageError) return ExitCodes.USAGE
  if (err instanceof BrokerUnreachableError) return ExitCodes.UNREACHABLE
  // A broker's error answer, and anything unexpected, is 1.
  return ExitCodes.BROKER_ERROR
}

/** `--url` flags (repeatable, comma lists), else `STRATA_URL`, else the local default. */
export function brokerUrls(flags: readonly string[] | undefined, env: CliIo['env']): string[] {
  const given = (flags ?? [])
    .flatMap((u) => u.split(','))
    .map((u) => u.trim())
    .filter(Boolean)
  if (given.length > 0) return given
  const fromEnv = (env.STRATA_URL ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean)
  return fromEnv.length > 0 ? fromEnv : [DEFAULT_URL]
}

/** Everything a command's `run` receives. */
export interface CommandContext {
  io: CliIo
  json: boolean
  positionals: string[]
  values: Record<string, string | boolean | string[] | undefined>
  /** Aborted on SIGINT / SIGTERM for commands that run long. */
  signal: AbortSignal
  /** The shared client, created on first use and closed by `runCli`. */
  client(): BrokerClient
}

/**
 * Credentials come from the environment only, never from flags (a flag shows in `ps` and in shell
 * history): `STRATA_TOKEN`, else `STRATA_USERNAME` and `STRATA_PASSWORD`. They are never printed.
 */
export function credentialsFromEnv(env: CliIo['env']): {
  token?: string
  username?: string
  password?: string
} {
  if (env.STRATA_TOKEN) return { token: env.STRATA_TOKEN }
  if (env.STRATA_USERNAME) return { username: env.STRATA_USERNAME, password: env.STRATA_PASSWORD ?? '' }
  return {}
}

export function lazyClient(
  urls: string[],
  timeoutMs: number | undefined,
  tls?: ClientTlsOptions,
  credentials: { token?: string; username?: string; password?: string } = {},
): {
  get: () => BrokerClient
  close: () => Promise<void>
} {
  let client: BrokerClient | undefined
  return {
    get: () => {
      // A CLI user waits for an answer: fail over quickly and give up within ~10 s per call.
      client ??= new BrokerClient({
        urls,
        retry: { maxAttempts: 4, maxElapsedMs: 10_000 },
        connectTimeoutMs: 2_000,
        ...credentials,
        ...(timeoutMs !== undefined && { requestTimeoutMs: timeoutMs }),
        ...(tls !== undefined && { tls }),
      })
      return client
    },
    close: async () => {
      await client?.close()
    },
  }
}
