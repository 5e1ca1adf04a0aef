/**
 * The peers of the comparison, installed from Debian's packages when missing and started on
 * loopback with their data under a temp dir; stopped by their own PIDs.
 *
 * RabbitMQ runs against an epmd started here on a free port (ERL_EPMD_PORT) so no epmd is left
 * behind; its node name, ports, config, logs and Mnesia/Ra data live in the temp dir.
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import { log } from '../lib/cli.mjs'
import { startProcess, tempDir } from '../lib/proc.mjs'

const RABBIT = '/usr/lib/rabbitmq/bin/rabbitmq-server'
const NATS = '/usr/sbin/nats-server'

function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

/** apt-get install the packages that are missing (apt-get update once first). */
export function ensureInstalled() {
  const missing = []
  if (!existsSync(RABBIT)) missing.push('rabbitmq-server')
  if (!existsSync(NATS) && !which('nats-server')) missing.push('nats-server')
  if (missing.length === 0) return
  log(`installing ${missing.join(' ')} with apt-get …`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const sudo = process.getuid?.() === 0 ? [] : ['sudo']
  const run = (args) =>
    execFileSync(sudo[0] ?? args[0], sudo.length ? args : args.slice(1), { stdio: 'inherit', env })
  run(['apt-get', 'update'])
  run(['apt-get', 'install', '-y', '--no-install-recommends', ...missing])
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

export function version(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .trim()
      .split('\n')[0]
  } catch {
    return undefined
  }
}

export async function startNats() {
  const dir = await tempDir('nats')
  const port = await freePort()
  const conf = join(dir, 'nats.conf')
  writeFileSync(
    conf,
    `listen: 127.0.0.1:${port}\nhttp: 0\njetstream {\n  store_dir: "${join(dir, 'js')}"\n}\n`,
  )
  const proc = await startProcess(existsSync(NATS) ? NATS : 'nats-server', ['-c', conf], {
    ready: /Server is ready/,
    name: 'nats-server',
  })
  return {
    url: `nats://127.0.0.1:${port}`,
    pid: proc.pid,
    version: version(existsSync(NATS) ? NATS : 'nats-server', ['--version']),
    async stop() {
      await proc.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** epmd in the foreground (no -daemon), so its PID is ours; ready once its port accepts. */
async function startEpmd(port) {
  const child = spawn(which('epmd') ?? 'epmd', ['-port', String(port)], { stdio: 'ignore' })
  const exited = new Promise((r) => child.once('exit', r))
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((r) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy()
        r(true)
      })
      socket.once('error', () => r(false))
    })
    if (ok) break
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    pid: child.pid,
    async stop() {
      if (child.exitCode === null) process.kill(child.pid, 'SIGTERM')
      await exited
    },
  }
}

export async function startRabbit() {
  const dir = await tempDir('rabbitmq')
  const [amqpPort, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()]
  const epmdProc = await startEpmd(epmdPort)
  writeFileSync(
    join(dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.default = 127.0.0.1:${amqpPort}`,
      'loopback_users = none',
      // The disk alarm would block publishers on a small temp disk; this benchmark measures speed.
      'disk_free_limit.absolute = 50MB',
      'vm_memory_high_watermark.relative = 0.6',
      '',
    ].join('\n'),
  )
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n')
  const env = {
    ...process.env,
    HOME: dir,
    ERL_EPMD_PORT: String(epmdPort),
    RABBITMQ_NODENAME: `strata-bench-${process.pid}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
    RABBITMQ_LOGS: '-',
  }
  const proc = await startProcess(RABBIT, [], {
    ready: /Starting broker.*completed|Server startup complete/,
    env,
    name: 'rabbitmq-server',
    timeoutMs: 120_000,
  })
  return {
    url: `amqp://guest:guest@127.0.0.1:${amqpPort}`,
    pid: proc.pid,
    version: (version('dpkg-query', ['-W', 'rabbitmq-server']) ?? 'rabbitmq-server ?').replace('\t', ' '),
    async stop() {
      await proc.stop({ graceMs: 30_000 })
      // The script stops the Erlang VM through rabbitmqctl; make sure it is gone (its own PID).
      try {
        const beam = Number(readFileSync(join(dir, 'rabbitmq.pid'), 'utf8').trim())
        if (beam) process.kill(beam, 'SIGKILL')
      } catch {}
      await epmdProc.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
