/**
 * One shape over three systems, so the comparison runs the very same workloads:
 *
 *   open(name, groups)     → a channel: a Strata topic, a RabbitMQ quorum queue (a fanout exchange
 *                            onto one quorum queue per group when there are several), a JetStream
 *                            file stream
 *   ch.publisher()         → send(buffer) resolves on the system's confirm; flush(); close()
 *   ch.subscribe(g, onMsg) → reads everything from the start as group g and acknowledges it:
 *                            Strata group member with manual ack every ACK_EVERY records
 *                            (commit(record), not awaited: it rides on the next fetch), RabbitMQ
 *                            consumer acking with multiple=true every ACK_EVERY deliveries,
 *                            JetStream durable pull consumer with AckAll every ACK_EVERY messages
 *
 * Durability, as each system confirms a publish (stated in every table):
 *   Strata acks=all   fdatasync of the partition log before the confirm (group commit).
 *   RabbitMQ quorum   the confirm follows the Raft log write, which is fsynced (Ra WAL) first.
 *   NATS JetStream    the PubAck follows the write to the file store, not an fsync: by default the
 *                     store syncs every 2 minutes (nats-server 2.9 has no per-write sync option).
 */
import { Buffer } from 'node:buffer'

const ACK_EVERY = 100

export const DURABILITY = {
  strata: 'acks=all: fdatasync before confirm',
  rabbitmq: 'quorum queue + publisher confirms: fsynced Raft log before confirm',
  nats: 'JetStream file stream + PubAck: written, NOT fsynced before ack (sync every 2 min)',
}

// ---- Strata ----------------------------------------------------------------------------------

export async function strataAdapter({ lib, wire, url, hasGroups }) {
  const { subscribe } = await import('../lib/consume.mjs')
  return {
    name: 'strata',
    async open(name) {
      await wire.createTopic(name, 1)
      return {
        publisher() {
          const client = new lib.BrokerClient({ urls: url })
          const producer = new lib.Producer(client, { acks: 'all' })
          return {
            send: (buf) => producer.send(name, { value: buf }),
            flush: () => producer.flush(),
            async close() {
              await producer.close()
              await client.close()
            },
          }
        },
        async subscribe(group, onMessage) {
          const sub = await subscribe(lib, url, {
            group: `${name}-${group}`,
            topic: name,
            hasGroups,
            maxRecords: 2000,
            maxBytes: 4 * 1024 * 1024,
            maxWaitMs: 500,
            // At-least-once like the peers' manual acks (autoCommit would be RabbitMQ's noAck).
            ack: 'manual',
            onRecord: (record, now) => onMessage(record.value, now),
          })
          return { close: () => sub.stop() }
        },
      }
    },
    async close() {},
  }
}

// ---- RabbitMQ --------------------------------------------------------------------------------

export async function rabbitAdapter({ url }) {
  const amqp = (await import('amqplib')).default
  const connections = []
  const connectAmqp = async () => {
    const c = await amqp.connect(url)
    connections.push(c)
    return c
  }
  const admin = await connectAmqp()
  const adminCh = await admin.createChannel()
  const queueArgs = { durable: true, arguments: { 'x-queue-type': 'quorum' } }
  return {
    name: 'rabbitmq',
    async open(name, groups = 1) {
      const queues = groups === 1 ? [name] : Array.from({ length: groups }, (_, g) => `${name}.${g}`)
      for (const q of queues) await adminCh.assertQueue(q, queueArgs)
      if (groups > 1) {
        await adminCh.assertExchange(name, 'fanout', { durable: true })
        for (const q of queues) await adminCh.bindQueue(q, name, '')
      }
      return {
        publisher() {
          let chP
          let blocked
          const ready = (async () => {
            const conn = await connectAmqp()
            chP = await conn.createConfirmChannel()
          })()
          return {
            async send(buf) {
              if (!chP) await ready
              while (blocked) await blocked
              return new Promise((resolve, reject) => {
                const cb = (err) => (err ? reject(err) : resolve())
                const more =
                  groups > 1
                    ? chP.publish(name, '', buf, { persistent: true }, cb)
                    : chP.sendToQueue(name, buf, { persistent: true }, cb)
                // The socket buffer is full: later sends wait for 'drain' (this one's confirm still comes).
                if (!more && !blocked) {
                  blocked = new Promise((r) =>
                    chP.once('drain', () => {
                      blocked = undefined
                      r()
                    }),
                  )
                }
              })
            },
            async flush() {
              if (chP) await chP.waitForConfirms()
            },
            async close() {
              if (chP) await chP.close()
            },
          }
        },
        async subscribe(group, onMessage) {
          const conn = await connectAmqp()
          const ch = await conn.createChannel()
          await ch.prefetch(2000)
          const q = queues[group] ?? queues[0]
          let unacked = 0
          let last
          let timer
          const flushAck = () => {
            timer = undefined
            if (last && unacked > 0) {
              ch.ack(last, true)
              unacked = 0
            }
          }
          const { consumerTag } = await ch.consume(
            q,
            (msg) => {
              if (!msg) return
              onMessage(msg.content, performance.now())
              last = msg
              if (++unacked >= ACK_EVERY) flushAck()
              else timer ??= setTimeout(flushAck, 5)
            },
            { noAck: false },
          )
          return {
            async close() {
              clearTimeout(timer)
              flushAck()
              await ch.cancel(consumerTag)
              await ch.close()
            },
          }
        },
      }
    },
    async close() {
      for (const c of connections) await c.close().catch(() => undefined)
    },
  }
}

// ---- NATS JetStream --------------------------------------------------------------------------

export async function natsAdapter({ url }) {
  const nats = await import('nats')
  const conns = []
  const connectNats = async () => {
    const nc = await nats.connect({ servers: url })
    conns.push(nc)
    return nc
  }
  const admin = await connectNats()
  const jsm = await admin.jetstreamManager()
  return {
    name: 'nats',
    async open(name) {
      const stream = name.replace(/[^A-Za-z0-9_-]/g, '_')
      await jsm.streams.add({
        name: stream,
        subjects: [`${stream}.data`],
        storage: nats.StorageType.File,
        num_replicas: 1,
        retention: nats.RetentionPolicy.Limits,
      })
      return {
        publisher() {
          let js
          const ready = connectNats().then((nc) => {
            js = nc.jetstream()
          })
          return {
            async send(buf) {
              if (!js) await ready
              return js.publish(`${stream}.data`, buf)
            },
            async flush() {},
            async close() {},
          }
        },
        async subscribe(group, onMessage) {
          const nc = await connectNats()
          const durable = `g${group}`
          await jsm.consumers.add(stream, {
            durable_name: durable,
            ack_policy: nats.AckPolicy.All,
            deliver_policy: nats.DeliverPolicy.All,
            max_ack_pending: 20_000,
          })
          const consumer = await nc.jetstream().consumers.get(stream, durable)
          const messages = await consumer.consume({ max_messages: 2000 })
          let unacked = 0
          let last
          let timer
          const flushAck = () => {
            timer = undefined
            if (last && unacked > 0) {
              last.ack()
              unacked = 0
            }
          }
          const loop = (async () => {
            for await (const m of messages) {
              onMessage(m.data, performance.now())
              last = m
              if (++unacked >= ACK_EVERY) flushAck()
              else timer ??= setTimeout(flushAck, 5)
            }
          })()
          return {
            async close() {
              clearTimeout(timer)
              flushAck()
              await messages.close?.()
              messages.stop?.()
              await loop.catch(() => undefined)
            },
          }
        },
      }
    },
    async close() {
      for (const nc of conns) await nc.drain().catch(() => nc.close())
    },
  }
}

export function payload(size, fill) {
  return Buffer.alloc(size, fill)
}
