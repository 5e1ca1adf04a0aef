/**
 * The web console: one static page (src/console/index.html) that uses the public JSON API, so
 * it shows nothing the CLI could not. Read once at start; `/` redirects to it.
 */
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'

// The page is not compiled: from dist/src/server/routes or from src/server/routes (tests that
// import the TypeScript), it is the package root's src/console/index.html.
const PAGE = [
  resolve(import.meta.dirname, '../../../../src/console/index.html'),
  resolve(import.meta.dirname, '../../console/index.html'),
].find((path) => existsSync(path)) as string

export async function consoleRoutes(app: FastifyInstance) {
  const html = readFileSync(PAGE)
  app.get('/', async (_req, reply) => reply.redirect('/console'))
  app.get('/console', async (_req, reply) => reply.type('text/html; charset=utf-8').send(html))
}
