/**
 * The layers of src/ (src/README.md, "Layers"): a module imports only from its own layer or the
 * layers below it. Every static `import … from` / `export … from` with a relative specifier is an
 * edge, type-only imports included (a type still ties the lower module to the upper one's shape).
 * Dynamic `import()` is not checked: src/main.ts loads the CLI or the broker on demand.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { expect, test } from 'vitest'

const SRC = resolve(import.meta.dirname, '../../src')

/** Bottom to top; a path prefix (relative to src/) belongs to the first layer that lists it. */
const LAYERS: ReadonlyArray<{ name: string; paths: string[] }> = [
  { name: 'errors', paths: ['errors.ts'] },
  { name: 'config and client', paths: ['config/', 'client/'] },
  { name: 'storage', paths: ['storage/'] },
  { name: 'wire', paths: ['wire/'] },
  { name: 'workers', paths: ['workers/'] },
  { name: 'broker', paths: ['broker/'] },
  { name: 'replication, cluster, auth, metrics', paths: ['replication/', 'cluster/', 'auth/', 'metrics/'] },
  { name: 'server', paths: ['server/'] },
  { name: 'entry points', paths: ['cli/', 'index.ts', 'main.ts'] },
]

function layerOf(file: string): number {
  const index = LAYERS.findIndex((layer) => layer.paths.some((p) => file === p || file.startsWith(p)))
  if (index < 0) throw new Error(`${file} is in no layer: add its directory to LAYERS and src/README.md`)
  return index
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}

/** Relative specifiers of static imports and re-exports, including ones spread over several lines. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const pattern = /^(?:import|export)\b[^;'"]*?\bfrom\s*'(\.[^']+)'|^import\s*'(\.[^']+)'/gm
  return [...text.matchAll(pattern)].map((m) => (m[1] ?? m[2]) as string)
}

/** Every edge that points up, as `from (layer) → to (layer)`. */
function upwardEdges(): string[] {
  const edges: string[] = []
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file)
    for (const spec of relativeImports(file)) {
      const to = relative(SRC, resolve(file, '..', spec)).replace(/\.js$/, '.ts')
      const [a, b] = [layerOf(from), layerOf(to)]
      if (b > a) edges.push(`${from} (${LAYERS[a]?.name}) → ${to} (${LAYERS[b]?.name})`)
    }
  }
  return edges.sort()
}

test('no module under src/ imports from a layer above its own', () => {
  const edges = upwardEdges()
  if (edges.length > 0) console.log(`upward imports:\n${edges.join('\n')}`)
  expect(edges).toEqual([])
})

test('the import scan sees multi-line imports and re-exports (so an empty result means something)', () => {
  const edges = relativeImports(join(SRC, 'broker/exchanges/index.ts'))
  expect(edges).toContain('./exchange-registry.js')
  expect(relativeImports(join(SRC, 'index.ts'))).toContain('./server/start-broker.js')
})
