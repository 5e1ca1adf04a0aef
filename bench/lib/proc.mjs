/**
 * Child processes for benchmarks: the broker under test, the bare-fastify ceiling and the peers of
 * the comparison. Each is started on a loopback port with its data under a fresh temp dir, waited
 * for by a line it prints, and stopped by its own PID (SIGTERM, then SIGKILL after a grace period).
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
/**
 * The build under test: `dist/` of this tree, or STRATA_BENCH_DIST (a build of another checkout,
 * e.g. a clean export of one commit while others edit this tree).
 */
export const DIST = resolve(process.env.STRATA_BENCH_DIST ?? join(ROOT, 'dist'))
export const BROKER_MAIN = join(DIST, 'src/main.js')
/** More `serve` flags for every broker a benchmark starts, e.g. STRATA_BENCH_BROKER_ARGS="--workers 2". */
export const BROKER_EXTRA_ARGS = (process.env.STRATA_BENCH_BROKER_ARGS ?? '').split(/\s+/).filter(Boolean)

export async function tempDir(prefix) {
  return mkdtemp(join(tmpdir(), `strata-bench-${prefix}-`))
}

/**
 * Spawns `command args` and resolves once a stdout/stderr line matches `ready` (its first capture
 * group is returned as `match`). Rejects with the process's output if it exits or times out first.
 */
export function startProcess(command, args, { ready, timeoutMs = 30_000, env, cwd, name = command } = {}) {
  const child = spawn(command, args, { env: env ?? process.env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  let exited = false
  const exit = new Promise((resolveExit) => {
    child.once('exit', (code, signal) => {
      exited = true
      resolveExit({ code, signal })
    })
  })
  return new Promise((resolveStart, rejectStart) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      rejectStart(new Error(`${name} did not get ready in ${timeoutMs} ms:\n${output.slice(-4000)}`))
    }, timeoutMs)
    let buffered = ''
    let done = false
    const onData = (chunk) => {
      const text = chunk.toString()
      if (output.length < 64 * 1024) output += text
      if (done) return
      buffered += text
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        const m = ready.exec(line)
        if (m) {
          done = true
          clearTimeout(timer)
          resolveStart({
            pid: child.pid,
            child,
            match: m[1] ?? m[0],
            output: () => output,
            stop: (opts) => stopProcess(child, exit, () => exited, opts),
          })
          return
        }
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    exit.then(({ code, signal }) => {
      if (done) return
      clearTimeout(timer)
      rejectStart(
        new Error(`${name} exited (${code ?? signal}) before it was ready:\n${output.slice(-4000)}`),
      )
    })
  })
}

async function stopProcess(child, exit, hasExited, { graceMs = 15_000, signal = 'SIGTERM' } = {}) {
  if (hasExited()) return exit
  try {
    process.kill(child.pid, signal)
  } catch {
    return exit
  }
  const timer = setTimeout(() => {
    if (!hasExited()) child.kill('SIGKILL')
  }, graceMs)
  const result = await exit
  clearTimeout(timer)
  return result
}

/**
 * Starts `node dist/src/main.js serve --port 0 --data-dir <tmp>` and reads the URL from
 * `strata listening on URL`. `nodeArgs` go before the script (e.g. `--cpu-prof`); `args` after
 * `serve`. `traceFsync` wraps the broker in `strace --seccomp-bpf -e fsync,fdatasync` (only those
 * two syscalls stop the process) so fsyncs can be counted when the broker has no /metrics.
 */
export async function startBroker({
  args = [],
  nodeArgs = [],
  traceFsync = false,
  keepData = false,
  dataDir: reuse,
  dist = DIST,
} = {}) {
  const brokerMain = join(dist, 'src/main.js')
  if (!existsSync(brokerMain)) throw new Error(`${brokerMain} is missing: run \`npm run build\` first`)
  // `dataDir` restarts on the data of an earlier broker (started with keepData).
  const dataDir = reuse ?? (await tempDir('broker'))
  const brokerArgv = [
    ...nodeArgs,
    brokerMain,
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--data-dir',
    join(dataDir, 'data'),
    '--log-level',
    'warn',
    ...args,
    ...BROKER_EXTRA_ARGS,
  ]
  let command = process.execPath
  let argv = brokerArgv
  const traceFile = join(dataDir, 'fsync.trace')
  if (traceFsync) {
    command = 'strace'
    argv = [
      '-f',
      '--seccomp-bpf',
      '-e',
      'trace=fsync,fdatasync',
      '-e',
      'signal=none',
      '-qq',
      '-ttt',
      '-T',
      '-o',
      traceFile,
      process.execPath,
      ...brokerArgv,
    ]
  }
  const proc = await startProcess(command, argv, {
    ready: /strata listening on (\S+)/,
    cwd: dataDir,
    name: 'strata broker',
  })
  // Under strace, the broker is strace's child: signal the broker itself so it shuts down cleanly.
  const brokerPid = traceFsync ? await childPid(proc.pid) : proc.pid
  return {
    url: proc.match,
    pid: brokerPid,
    dataDir,
    traceFile: traceFsync ? traceFile : undefined,
    output: proc.output,
    async stop() {
      if (brokerPid !== proc.pid) {
        try {
          process.kill(brokerPid, 'SIGTERM')
        } catch {}
      }
      await proc.stop()
      if (!keepData) await rm(dataDir, { recursive: true, force: true })
    },
  }
}

async function childPid(pid) {
  const { readFile } = await import('node:fs/promises')
  for (let i = 0; i < 50; i++) {
    try {
      const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/)
      if (children[0]) return Number(children[0])
    } catch {}
    await new Promise((r) => setTimeout(r, 20))
  }
  return pid
}

/**
 * fsync/fdatasync calls of an strace -ttt -T log that started between two epoch-second timestamps:
 * how many, and their mean and max duration in ms.
 */
export async function countFsyncs(traceFile, fromSec, toSec) {
  const { readFile } = await import('node:fs/promises')
  const text = await readFile(traceFile, 'utf8').catch(() => '')
  let count = 0
  let total = 0
  let max = 0
  for (const line of text.split('\n')) {
    const m = /^\d+\s+(\d+\.\d+)\s+f(?:data)?sync\(.*<(\d+\.\d+)>\s*$/.exec(line)
    if (!m) continue
    const at = Number(m[1])
    if (at < fromSec || at > toSec) continue
    const ms = Number(m[2]) * 1000
    count++
    total += ms
    if (ms > max) max = ms
  }
  return { count, meanMs: count ? total / count : undefined, maxMs: count ? max : undefined }
}
