/**
 * In-process CLI runs for tests: `runCli` with captured stdout/stderr and a given stdin, so a
 * test reads exactly what a person or a script would have seen, plus the exit code.
 */
import { PassThrough, Readable } from 'node:stream'
import { runCli } from '../../../src/cli/main.js'

export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

export async function cli(
  argv: string[],
  options: { stdin?: string; env?: Record<string, string | undefined>; tty?: boolean } = {},
): Promise<CliRun> {
  const stdout = Object.assign(new PassThrough(), { isTTY: options.tty ?? false })
  const stderr = Object.assign(new PassThrough(), { isTTY: options.tty ?? false })
  let out = ''
  let err = ''
  stdout.on('data', (d: Buffer) => {
    out += d.toString()
  })
  stderr.on('data', (d: Buffer) => {
    err += d.toString()
  })
  const stdin = Readable.from(options.stdin === undefined ? [] : [options.stdin])
  const code = await runCli(argv, { stdout, stderr, stdin, env: options.env ?? {} })
  return { code, stdout: out, stderr: err }
}
