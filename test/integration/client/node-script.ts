/**
 * Runs a fixture script in a fresh `node` process (the way an application runs the client) and
 * collects its JSON-lines stdout, its stderr and its exit code. The child is killed by PID if it
 * outlives `timeoutMs`, so a hung script fails the test instead of hanging it.
 */
import { type ChildProcess, spawn } from 'node:child_process'

export interface ScriptRun {
  child: ChildProcess
  /** Resolves with the first stdout event whose `event` field is `name`. */
  waitFor(name: string): Promise<Record<string, unknown>>
  /** Resolves once the process exited, with everything it said. */
  exited: Promise<{ code: number | null; events: Array<Record<string, unknown>>; stderr: string }>
}

export function runScript(args: string[], timeoutMs = 60_000): ScriptRun {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  const events: Array<Record<string, unknown>> = []
  const waiting: Array<{ name: string; resolve: (e: Record<string, unknown>) => void }> = []
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString()
    let nl = stdout.indexOf('\n')
    while (nl >= 0) {
      const line = stdout.slice(0, nl)
      stdout = stdout.slice(nl + 1)
      nl = stdout.indexOf('\n')
      if (line.trim() === '') continue
      const event = JSON.parse(line) as Record<string, unknown>
      events.push(event)
      for (const w of waiting.filter((w) => w.name === event.event)) w.resolve(event)
    }
  })
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const exited = new Promise<{ code: number | null; events: Array<Record<string, unknown>>; stderr: string }>(
    (resolve) =>
      child.once('exit', (code) => {
        clearTimeout(timer)
        resolve({ code, events, stderr })
      }),
  )
  return {
    child,
    exited,
    waitFor: (name) =>
      new Promise((resolve, reject) => {
        const seen = events.find((e) => e.event === name)
        if (seen) return resolve(seen)
        waiting.push({ name, resolve })
        exited.then(({ code }) =>
          reject(
            new Error(
              `script exited (${code}) before "${name}"; events ${JSON.stringify(events)}\n${stderr}`,
            ),
          ),
        )
      }),
  }
}
