/**
 * The client stands on its own: every module under src/client/ imports only other client modules,
 * `src/errors.ts` (which imports nothing), node built-ins, and the two packages a client package
 * would carry when it is split out: msgpackr and undici. A broker import here would make every
 * application that uses the client load fastify, piscina and etcd3.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { expect, test } from 'vitest'

const SRC = resolve(import.meta.dirname, '../../../src')
const CLIENT = join(SRC, 'client')
/** What `@strata-mq/client` will depend on (package.json "dependencies" of the split package). */
const CLIENT_DEPENDENCIES = ['msgpackr', 'undici']

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/^(?:import|export)\s[^'"]*?from\s+'([^']+)'|^import\s+'([^']+)'/gm)].map(
    (m) => (m[1] ?? m[2]) as string,
  )
}

function clientFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? clientFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}

test('src/client imports only itself, src/errors.ts, node built-ins, msgpackr and undici', () => {
  const outside: string[] = []
  const packages = new Set<string>()
  for (const file of clientFiles(CLIENT)) {
    for (const spec of importsOf(file)) {
      if (spec.startsWith('node:')) continue
      if (spec.startsWith('.')) {
        const target = relative(SRC, resolve(file, '..', spec))
        if (!target.startsWith('client/') && target !== 'errors.js')
          outside.push(`${relative(SRC, file)} → ${spec}`)
        continue
      }
      packages.add(spec)
    }
  }
  expect(outside).toEqual([])
  expect([...packages].sort()).toEqual(CLIENT_DEPENDENCIES)
})

test('src/errors.ts imports nothing, so the client entry can re-export it', () => {
  expect(importsOf(join(SRC, 'errors.ts'))).toEqual([])
})

test('the client dependencies are dependencies of the package', () => {
  const pkg = JSON.parse(readFileSync(resolve(SRC, '../package.json'), 'utf8')) as {
    dependencies: Record<string, string>
    exports: Record<string, unknown>
  }
  for (const name of CLIENT_DEPENDENCIES) expect(pkg.dependencies[name]).toBeDefined()
  expect(pkg.exports['./client']).toEqual({
    types: './dist/src/client/index.d.ts',
    default: './dist/src/client/index.js',
  })
})
