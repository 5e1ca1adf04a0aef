/**
 * Starts real broker processes for tests: `node dist/src/main.js serve --port 0` on a temp data
 * directory, reads the bound URL from its first stdout line, and tears it down by PID.
 * Crash tests use `kill('SIGKILL')`; pause tests `kill('SIGSTOP')` / `kill('SIGCONT')`.
 * `npm test` builds dist first (pretest), so the process runs the code under test.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const MAIN = resolve(import.meta.dirname, '../../dist/src/main.js')

export interface BrokerProcessOptions {
  dataDir?: string
  args?: string[]
  env?: Record<string, string>
  /** Keep the data directory after stop() (the test removes it, or inspects it). */
  keepData?: boolean
  /** How long to wait for the listening line (cluster tests on a busy machine need more). Default 20 s. */
  startTimeoutMs?: number
}

export interface BrokerProcess {
  url: string
  port: number
  pid: number
  dataDir: string
  /** Everything the process wrote to stderr so far (for assertions and failure messages). */
  stderr(): string
  /** Everything it wrote to stdout so far: the listening line, then its log (pino writes there). */
  stdout(): string
  /** Resolves when the process has exited, with its exit code or the signal that ended it. */
  exited: Promise<ProcessExit>
  /** SIGTERM and wait for exit (a clean shutdown that flushes and checkpoints). */
  stop(): Promise<void>
  /** Sends a signal (SIGKILL for a crash); waits for exit unless it is SIGSTOP/SIGCONT/SIGHUP. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** Starts a new process on the same data directory and port. */
  restart(extraArgs?: string[]): Promise<BrokerProcess>
}

/** Pause, resume, and SIGHUP (a TLS broker reloads its certificate). */
const SIGNALS_THAT_DO_NOT_END = new Set<NodeJS.Signals>(['SIGSTOP', 'SIGCONT', 'SIGHUP'])
export interface ProcessExit {
  code: number | null
  signal: NodeJS.Signals | null
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

export function tempDataDir(prefix = 'strata-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export async function startBroker(opts: BrokerProcessOptions = {}, port = 0): Promise<BrokerProcess> {
  const dataDir = opts.dataDir ?? tempDataDir()
  const args = [
    MAIN,
    'serve',
    '--port',
    String(port),
    '--data-dir',
    dataDir,
    '--log-level',
    'warn',
    ...(opts.args ?? []),
  ]
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(child)
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  let stdout = ''
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  const exited = new Promise<ProcessExit>((res) =>
    child.once('exit', (code, signal) => res({ code, signal })),
  )
  exited.then(() => live.delete(child))
  const url = await new Promise<string>((res, rej) => {
    const startTimeoutMs = opts.startTimeoutMs ?? 20_000
    const timer = setTimeout(() => {
      // Nobody gets a handle on a process that never served: end it here, or it outlives the test.
      child.kill('SIGKILL')
      rej(new Error(`broker did not start in ${startTimeoutMs} ms\n${stderr}`))
    }, startTimeoutMs)
    child.stdout?.on('data', () => {
      const m = /strata listening on (https?:\/\/\S+)/.exec(stdout)
      if (m) {
        clearTimeout(timer)
        res(m[1] as string)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      rej(new Error(`broker exited with ${code} before serving\n${stderr}`))
    })
  })
  const boundPort = Number(new URL(url).port)
  const proc: BrokerProcess = {
    url,
    port: boundPort,
    pid: child.pid as number,
    dataDir,
    stderr: () => stderr,
    stdout: () => stdout,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
      if (!opts.keepData && opts.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true })
    },
    async kill(signal = 'SIGKILL') {
      child.kill(signal)
      if (!SIGNALS_THAT_DO_NOT_END.has(signal)) await exited
    },
    async restart(extraArgs = []) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        await exited
      }
      return startBroker({ ...opts, dataDir, args: [...(opts.args ?? []), ...extraArgs] }, boundPort)
    },
  }
  return proc
}
