/** What a figure was measured on: commit, machine, load, and the command that made it. */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { cpus, freemem, loadavg, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { DIST, ROOT } from './proc.mjs'

function git(args) {
  try {
    return execFileSync('git', args, {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {
    return ''
  }
}

export function commitInfo() {
  // A clean build of one commit (bench/clean-build.mjs) names its commit beside dist/.
  const stamp = join(DIST, '..', 'COMMIT')
  if (existsSync(stamp)) {
    const sha = readFileSync(stamp, 'utf8').trim()
    return {
      sha,
      short: sha.slice(0, 10),
      subject: git(['log', '-1', '--format=%s', sha]),
      dirtySrcFiles: 0,
      build: 'clean export (bench/clean-build.mjs)',
    }
  }
  const sha = git(['rev-parse', 'HEAD'])
  // Others edit the tree while benchmarks run: say whether src/ differed from the commit.
  const dirtySrc = git(['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean).length
  return { sha, short: sha.slice(0, 10), subject: git(['log', '-1', '--format=%s']), dirtySrcFiles: dirtySrc }
}

function diskOf(path) {
  try {
    const out = execFileSync('df', ['-T', path], { encoding: 'utf8' }).trim().split('\n')[1]?.split(/\s+/)
    return out ? { device: out[0], fs: out[1] } : undefined
  } catch {
    return undefined
  }
}

export function machineInfo(tmp = '/tmp') {
  const list = cpus()
  return {
    cpu: list[0]?.model ?? 'unknown',
    cores: list.length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    freeMemGiB: Math.round(freemem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    tmpDisk: diskOf(tmp),
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
  }
}

export function commandLine() {
  return process.env.npm_lifecycle_event
    ? `npm run ${process.env.npm_lifecycle_event}${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`
    : `node ${process.argv
        .slice(1)
        .map((a) => a.replace(`${ROOT}/`, ''))
        .join(' ')}`
}
