/**
 * The Grafana dashboard and the Prometheus alert rules under deploy/ reference only metrics the
 * broker's registry has, so a renamed metric cannot leave a panel empty or an alert silent.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { BrokerMetrics } from '../../../src/metrics/broker-metrics.js'

const root = resolve(import.meta.dirname, '../../..')
const read = (path: string) => readFileSync(resolve(root, path), 'utf8')

/** Metric names in PromQL text: ours and prom-client's process metrics (never `up`, Prometheus' own). */
function referencedMetrics(text: string): Set<string> {
  return new Set(text.match(/\b(?:strata|process|nodejs)_[a-z0-9_]+\b/g) ?? [])
}

/** A histogram's series (`_bucket`, `_sum`, `_count`) belong to the histogram's name. */
function familyIn(registry: Registry, name: string): string | undefined {
  if (registry.getSingleMetric(name)) return name
  const base = name.replace(/_(bucket|sum|count)$/, '')
  return base !== name && registry.getSingleMetric(base)?.constructor.name !== 'Counter' ? base : undefined
}

describe('deploy files', () => {
  const registry = new Registry()
  new BrokerMetrics(registry)

  it.each(['deploy/grafana/strata-dashboard.json', 'deploy/prometheus/strata-alerts.yml'])(
    '%s references only metrics the broker exports',
    (path) => {
      const text = read(path)
      const names = referencedMetrics(text)
      expect(names.size).toBeGreaterThan(5)
      const missing = [...names].filter((n) => familyIn(registry, n) === undefined)
      expect(missing).toEqual([])
    },
  )

  it('the dashboard is valid JSON whose every panel query names a data source', () => {
    const dashboard = JSON.parse(read('deploy/grafana/strata-dashboard.json'))
    const targets = dashboard.panels.flatMap((p: { targets?: Array<{ expr: string }> }) => p.targets ?? [])
    expect(targets.length).toBeGreaterThan(20)
    for (const t of targets) expect(t.expr).toMatch(/\S/)
  })

  it('the alert rules cover under-replicated and offline partitions, lag, alarms and fsync latency', () => {
    const rules = read('deploy/prometheus/strata-alerts.yml')
    for (const name of [
      'strata_under_replicated_partitions',
      'strata_partition_offline',
      'strata_consumer_group_lag',
      'strata_alarm_active',
      'strata_fsync_duration_seconds_bucket',
    ])
      expect(rules).toContain(`${name}`)
  })
})
