/**
 * Partition reassignment in cluster tests: start one, list the running ones, wait until a partition
 * sits on its new replicas everywhere, and where a broker keeps a partition's files.
 */
import { join } from 'node:path'
import type { ReassignmentStatus } from '../../src/cluster/reassignment-requests.js'
import { describePartition, type TestCluster, waitUntil } from './cluster.js'
import { jsonRequest } from './http.js'

export const REASSIGNMENTS = '/v1/cluster/reassignments'

export type Status = ReassignmentStatus

export async function reassign(url: string, body: unknown): Promise<Status[]> {
  const res = await jsonRequest(`${url}${REASSIGNMENTS}`, 'POST', body)
  if (res.status !== 200) throw new Error(`reassign: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.reassignments
}

export async function running(url: string): Promise<Status[]> {
  const res = await jsonRequest(`${url}${REASSIGNMENTS}`, 'GET')
  if (res.status !== 200) throw new Error(`list reassignments: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.reassignments
}

/** Every live broker reports `replicas` for the partition and no reassignment runs any more. */
export async function waitForReplicas(
  cluster: TestCluster,
  topic: string,
  partition: number,
  replicas: number[],
  brokers: number[],
): Promise<void> {
  await waitUntil(
    async () => {
      for (const id of brokers) {
        const url = cluster.advertised(id)
        const p = await describePartition(url, topic, partition)
        if (JSON.stringify(p.replicas) !== JSON.stringify(replicas)) return false
        if ([...p.isr].sort().join() !== [...replicas].sort().join()) return false
        if ((await running(url)).length > 0) return false
      }
      return true
    },
    90_000,
    `${topic}/${partition} on replicas ${replicas} everywhere`,
    250,
  )
}

/** A broker's directory of one partition. */
export const partitionDir = (cluster: TestCluster, id: number, topic: string, partition: number) =>
  join(cluster.broker(id).dataDir, topic, String(partition))
