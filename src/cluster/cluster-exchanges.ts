/**
 * Exchanges in a cluster: their store is etcd (cluster/etcd-exchange-backend.ts), checked
 * against this broker's view of the cluster's topics, and a publish writes on partition leaders
 * (leader-writer.ts).
 */
import type { Broker } from '../broker/broker.js'
import type { ClusterNode } from './cluster-node.js'
import { EtcdExchangeStore } from './etcd-exchange-backend.js'

export function clusterExchanges(node: ClusterNode, broker: Broker): EtcdExchangeStore {
  return new EtcdExchangeStore({
    client: node.etcd,
    topicExists: (topic) => broker.topics.has(topic),
    topicRevision: (topic) => node.view.topics.get(topic)?.modRevision,
    connected: () => node.leaseValid(),
    logger: node.logger,
  })
}
