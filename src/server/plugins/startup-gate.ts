/**
 * While the broker loads its topics, groups and exchanges, their routes answer 503 NOT_READY
 * (retriable, with Retry-After) instead of what an empty registry would say: 404 TOPIC_NOT_FOUND,
 * which clients rightly do not retry, or a describe with zero offsets. The server listens before
 * loading so that /healthz and /readyz answer during recovery; those, /metrics, the console and
 * the cluster's own routes (/v1/cluster, replication between brokers) pass the gate.
 */
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { NotReadyError } from '../../errors.js'

const LOADED_STATE_ROUTE = /^\/v1\/(topics|groups|exchanges)(\/|$)/

export const startupGate = fp(
  async (app: FastifyInstance, opts: { loaded: () => boolean }) => {
    // Callback hooks, here and in the other per-request plugins: an async hook costs a promise
    // and a microtask turn on every request (bench/http/cpu-per-request.mjs).
    app.addHook('onRequest', (request, _reply, done) => {
      if (opts.loaded() || !LOADED_STATE_ROUTE.test(request.routeOptions.url ?? '')) return done()
      done(
        new NotReadyError('the broker is loading its topics, groups and exchanges; retry shortly', {
          retryAfterMs: 1000,
        }),
      )
    })
  },
  { name: 'strata-startup-gate' },
)
