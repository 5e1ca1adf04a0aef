/**
 * The web console: one static page (src/console/index.html) that uses the public JSON API, so
 * it shows nothing the CLI could not. Read once at start; `/` redirects to it.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'

// dist/src/server/routes → the package root's src/console (the page is not compiled).
const PAGE = resolve(import.meta.dirname, '../../../../src/console/index.html')

export async function consoleRoutes(app: FastifyInstance) {
  const html = readFileSync(PAGE)
  app.get('/', async (_req, reply) => reply.redirect('/console'))
  app.get('/console', async (_req, reply) => reply.type('text/html; charset=utf-8').send(html))
}
