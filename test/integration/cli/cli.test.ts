/**
 * The `strata` CLI against a real broker: every command answers `--help` with its usage and exit
 * 0; usage mistakes exit 2, an unknown topic exits 1 naming TOPIC_NOT_FOUND, an unreachable broker
 * exits 3; 1000 lines produced from a file come back with `consume --json`, in order; a group
 * consumer with --auto-commit does not see its records twice; groups, exchanges and bench work end
 * to end; and the compiled binary returns the same exit codes as a process.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { COMMANDS } from '../../../src/cli/main.js'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { deadUrl } from '../../unit/client/fake-broker.js'
import { cli } from './cli-io.js'

let broker: BrokerProcess
let dir: string
let n = 0
const unique = (prefix: string) => `${prefix}-${process.pid}-${++n}`
const url = () => ['--url', broker.url]

beforeAll(async () => {
  broker = await startBroker()
  dir = mkdtempSync(join(tmpdir(), 'strata-cli-'))
})

afterAll(async () => {
  await broker?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

function ndjson(text: string): any[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l))
}

describe('help', () => {
  test.each(COMMANDS.map((c) => [c.path.join(' '), c] as const))('strata %s --help', async (_name, spec) => {
    const run = await cli([...spec.path, '--help'])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain(`Usage: strata ${spec.path.join(' ')}`)
    expect(run.stdout).toContain('--url URL')
    expect(run.stderr).toBe('')
  })

  test.each(['topics', 'groups', 'exchanges'])('strata %s --help lists its commands', async (group) => {
    const run = await cli([group, '--help'])
    expect(run.code).toBe(0)
    for (const c of COMMANDS.filter((c) => c.path[0] === group))
      expect(run.stdout).toContain(c.path.join(' '))
  })

  test('strata --help lists every command and the exit codes', async () => {
    const run = await cli(['--help'])
    expect(run.code).toBe(0)
    for (const c of COMMANDS) expect(run.stdout).toContain(c.path.join(' '))
    expect(run.stdout).toContain('serve')
    expect(run.stdout).toMatch(/Exit codes:[\s\S]*3 +no broker reachable/)
  })

  test('strata help <command> is --help', async () => {
    const run = await cli(['help', 'topics', 'create'])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('Usage: strata topics create <name>')
  })
})

describe('exit codes', () => {
  test('usage mistakes exit 2 and point at --help', async () => {
    expect((await cli([])).code).toBe(2)
    expect((await cli(['nonsense'])).code).toBe(2)
    expect((await cli(['topics'])).code).toBe(2)
    expect((await cli(['topics', 'frobnicate'])).code).toBe(2)
    const missing = await cli(['topics', 'create'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("Run 'strata topics create --help'")
    const badOption = await cli(['topics', 'list', '--bogus'])
    expect(badOption.code).toBe(2)
    expect((await cli(['topics', 'create', 'x', '--partitions', 'many'])).code).toBe(2)
    expect((await cli(['consume', 'x', '--auto-commit'])).code).toBe(2)
    expect((await cli(['produce', 'x', '--file', join(dir, 'does-not-exist')])).code).toBe(2)
  })

  test('an unknown topic exits 1 and names the error code', async () => {
    const topic = unique('nope')
    const describe = await cli(['topics', 'describe', topic, ...url()])
    expect(describe.code).toBe(1)
    expect(describe.stderr).toContain('TOPIC_NOT_FOUND')
    const produce = await cli(['produce', topic, ...url()], { stdin: 'a\n' })
    expect(produce.code).toBe(1)
    // A refused produce confirmed nothing: only the error is printed, no "confirmed 0 records".
    expect(produce.stdout).toBe('')
    expect(produce.stderr).toContain('TOPIC_NOT_FOUND')
    expect(produce.stderr).not.toContain('confirmed')
    expect(produce.stderr.trim().split('\n')).toHaveLength(1)
    const consume = await cli(['consume', topic, '--json', ...url()])
    expect(consume.code).toBe(1)
    expect(JSON.parse(consume.stderr).error.code).toBe('TOPIC_NOT_FOUND')
  })

  test('a broker that is down exits 3', async () => {
    const down = await deadUrl()
    const run = await cli(['topics', 'list', '--url', down])
    expect(run.code).toBe(3)
    expect(run.stderr).toContain('no broker reachable')
    expect((await cli(['produce', 'x', '--url', down], { stdin: 'a\n' })).code).toBe(3)
  })

  test('STRATA_URL is used when --url is absent', async () => {
    const run = await cli(['topics', 'list', '--json'], { env: { STRATA_URL: broker.url } })
    expect(run.code).toBe(0)
    expect(Array.isArray(JSON.parse(run.stdout))).toBe(true)
  })
})

describe('produce and consume', () => {
  test('1000 lines produced from a file come back with consume --json, in order', async () => {
    const topic = unique('lines')
    expect((await cli(['topics', 'create', topic, '--partitions', '3', ...url()])).code).toBe(0)
    const file = join(dir, `${topic}.txt`)
    writeFileSync(file, `${Array.from({ length: 1000 }, (_, i) => `line ${i + 1}`).join('\n')}\n`)
    const produced = await cli(['produce', topic, '--file', file, '--json', ...url()])
    expect(produced.code).toBe(0)
    const summary = JSON.parse(produced.stdout)
    expect(summary.count).toBe(1000)

    const consumed = await cli(['consume', topic, '--json', ...url()])
    expect(consumed.code).toBe(0)
    const records = ndjson(consumed.stdout)
    expect(records).toHaveLength(1000)
    expect(new Set(records.map((r) => r.value))).toEqual(
      new Set(Array.from({ length: 1000 }, (_, i) => `line ${i + 1}`)),
    )
    // Within a partition, lines keep the order they had in the file.
    for (const p of [0, 1, 2]) {
      const values = records.filter((r) => r.partition === p).map((r) => Number(String(r.value).slice(5)))
      expect(values).toEqual([...values].sort((a, b) => a - b))
    }
    expect(records[0]).toMatchObject({ topic, key: null, headers: {} })
  })

  test('keys, partitions, JSON values and --max', async () => {
    const topic = unique('kv')
    await cli(['topics', 'create', topic, '--partitions', '2', ...url()])
    const run = await cli(
      [
        'produce',
        topic,
        '--key-separator',
        ':',
        '--value-format',
        'json',
        '--partition',
        '1',
        '--acks',
        '1',
        ...url(),
      ],
      { stdin: 'a:{"n":1}\nb:{"n":2}\n\nc:[3]\n' },
    )
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('produced 3 records')
    // acks=1 answers before the fsync, and readers see records once durable: follow until they are.
    const consumed = await cli([
      'consume',
      topic,
      '--partition',
      '1',
      '--max',
      '2',
      '--follow',
      '--json',
      ...url(),
    ])
    expect(ndjson(consumed.stdout)).toEqual([
      expect.objectContaining({ partition: 1, offset: 0, key: 'a', value: { n: 1 } }),
      expect.objectContaining({ partition: 1, offset: 1, key: 'b', value: { n: 2 } }),
    ])
    const people = await cli(['consume', topic, '--from', '2', ...url()])
    expect(people.stdout).toBe('[1:2] key=c [3]\n')
  })

  test('--acks 0 reports the records sent though the broker names no offsets', async () => {
    const topic = unique('acks0')
    await cli(['topics', 'create', topic, ...url()])
    const run = await cli(['produce', topic, '--acks', '0', '--json', ...url()], { stdin: 'a\nb\n' })
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ count: 2, partitions: [] })
  })

  test('--auto-commit with --max acks the records printed and no more', async () => {
    const topic = unique('grp')
    await cli(['topics', 'create', topic, ...url()])
    await cli(['produce', topic, ...url()], { stdin: 'a\nb\nc\nd\ne\n' })
    const group = unique('g')
    const first = await cli([
      'consume',
      topic,
      '--group',
      group,
      '--auto-commit',
      '--max',
      '3',
      '--json',
      ...url(),
    ])
    expect(ndjson(first.stdout).map((r) => r.value)).toEqual(['a', 'b', 'c'])
    const rest = await cli(['consume', topic, '--group', group, '--auto-commit', '--json', ...url()])
    expect(ndjson(rest.stdout).map((r) => r.value)).toEqual(['d', 'e'])
  })

  test('a group consumer with --auto-commit does not get the same records twice', async () => {
    const topic = unique('grp')
    await cli(['topics', 'create', topic, '--partitions', '2', ...url()])
    await cli(['produce', topic, ...url()], { stdin: 'one\ntwo\nthree\n' })
    const group = unique('g')
    const peek = await cli(['consume', topic, '--group', group, '--json', ...url()])
    expect(ndjson(peek.stdout)).toHaveLength(3)
    const first = await cli(['consume', topic, '--group', group, '--auto-commit', '--json', ...url()])
    expect(first.code).toBe(0)
    expect(
      ndjson(first.stdout)
        .map((r) => r.value)
        .sort(),
    ).toEqual(['one', 'three', 'two'])
    const second = await cli(['consume', topic, '--group', group, '--auto-commit', '--json', ...url()])
    expect(second.code).toBe(0)
    expect(ndjson(second.stdout)).toEqual([])

    const described = await cli(['groups', 'describe', group, '--json', ...url()])
    expect(described.code).toBe(0)
    expect(JSON.parse(described.stdout).totalLag).toBe(0)
    const listed = await cli(['groups', 'list', ...url()])
    expect(listed.stdout).toContain(group)

    const reset = await cli(['groups', 'reset', group, '--topic', topic, '--to', 'earliest', ...url()])
    expect(reset.code).toBe(0)
    const again = await cli(['consume', topic, '--group', group, '--json', ...url()])
    expect(ndjson(again.stdout)).toHaveLength(3)
  })
})

describe('admin commands', () => {
  test('topics create, list, describe and delete, for people and for scripts', async () => {
    const topic = unique('adm')
    const created = await cli([
      'topics',
      'create',
      topic,
      '--partitions',
      '2',
      '--config',
      'retentionMs=60000',
      ...url(),
    ])
    expect(created.code).toBe(0)
    expect((await cli(['topics', 'create', topic, ...url()])).code).toBe(1)
    expect((await cli(['topics', 'create', topic, '--if-not-exists', ...url()])).code).toBe(0)
    const table = await cli(['topics', 'list', ...url()])
    expect(table.stdout).toMatch(/^TOPIC +PARTITIONS/)
    expect(table.stdout).toContain(topic)
    const described = await cli(['topics', 'describe', topic, '--json', ...url()])
    expect(JSON.parse(described.stdout).partitions).toHaveLength(2)
    expect((await cli(['topics', 'delete', topic, ...url()])).code).toBe(0)
    expect((await cli(['topics', 'delete', topic, ...url()])).code).toBe(1)
    expect((await cli(['topics', 'delete', topic, '--if-exists', ...url()])).code).toBe(0)
  })

  test('exchanges create, bind, publish, describe, unbind and delete', async () => {
    const [a, b] = [unique('ta'), unique('tb')]
    await cli(['topics', 'create', a, ...url()])
    await cli(['topics', 'create', b, ...url()])
    const x = unique('x')
    expect((await cli(['exchanges', 'create', x, '--type', 'topic', ...url()])).code).toBe(0)
    expect((await cli(['exchanges', 'create', x, '--type', 'nope', ...url()])).code).toBe(2)
    expect((await cli(['exchanges', 'bind', x, a, '--binding-key', 'user.*', ...url()])).code).toBe(0)
    expect((await cli(['exchanges', 'bind', x, b, '--binding-key', '#', ...url()])).code).toBe(0)
    const published = await cli(
      ['exchanges', 'publish', x, '--routing-key', 'user.signup', '--json', ...url()],
      {
        stdin: 'alice\nbob\n',
      },
    )
    expect(published.code).toBe(0)
    const result = JSON.parse(published.stdout)
    expect(result.published).toBe(2)
    expect(result.results[0].routed.map((r: { topic: string }) => r.topic).sort()).toEqual([a, b].sort())
    const described = await cli(['exchanges', 'describe', x, ...url()])
    expect(described.stdout).toContain('user.*')
    expect((await cli(['exchanges', 'list', ...url()])).stdout).toContain(x)
    expect((await cli(['exchanges', 'unbind', x, a, '--binding-key', 'user.*', ...url()])).code).toBe(0)
    expect((await cli(['exchanges', 'delete', x, ...url()])).code).toBe(0)
    expect((await cli(['exchanges', 'describe', x, ...url()])).code).toBe(1)
  })

  test('bench produces and consumes the records it was asked for', async () => {
    const run = await cli(['bench', '--records', '2000', '--size', '64', '--json', ...url()])
    expect(run.code).toBe(0)
    const result = JSON.parse(run.stdout)
    expect(result.produce.records).toBe(2000)
    expect(result.consume.records).toBe(2000)
    expect(result.produce.latencyMs.p99).toBeGreaterThan(0)
    const topics = JSON.parse((await cli(['topics', 'list', '--json', ...url()])).stdout) as Array<{
      name: string
    }>
    expect(topics.some((t) => t.name === result.topic)).toBe(false)
  })
})

describe('the compiled binary', () => {
  const main = resolve(import.meta.dirname, '../../../dist/src/main.js')
  const run = async (args: string[]) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [main, ...args])
      return { code: 0, stdout, stderr }
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string }
      return { code: e.code, stdout: e.stdout, stderr: e.stderr }
    }
  }

  test('returns the documented exit codes as a process', async () => {
    // Run side by side: each start of the binary loads the whole broker too (src/main.ts).
    const [ok, missing, usage, down] = await Promise.all([
      run(['topics', 'list', '--url', broker.url]),
      run(['topics', 'describe', unique('nope'), '--url', broker.url]),
      run(['topics', 'describe']),
      deadUrl().then((u) => run(['topics', 'list', '--url', u])),
    ])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain('TOPIC')
    expect(missing.code).toBe(1)
    expect(usage.code).toBe(2)
    expect(down.code).toBe(3)
  })
})
