/**
 * Admin: topics, consumer groups and exchanges, as rabbitmqadmin and kafka-topics offer them.
 *
 * A thin, friendlier face over `BrokerClient` (names first, options second) plus the one derived
 * view operators ask for most, a group's total lag. It shares the client's connections and
 * failover, and closes the client only when it created it.
 */
import { BrokerClient, type CallOptions, type ClientOptions } from './broker-client.js'
import type {
  ClusterDescription,
  ExchangeDescription,
  ExchangeType,
  GroupConfig,
  GroupDescription,
  GroupOffset,
  OffsetSpec,
  TopicConfig,
  TopicDescription,
  TopicPartitionOffset,
} from './types.js'

export interface CreateTopicOptions {
  partitions?: number
  replicationFactor?: number
  config?: TopicConfig
}

export interface GroupLag {
  group: string
  /** Sum of every partition's lag. */
  total: number
  partitions: GroupOffset[]
}

export class Admin {
  readonly client: BrokerClient
  readonly #ownsClient: boolean

  constructor(client: BrokerClient | ClientOptions = {}) {
    this.#ownsClient = !(client instanceof BrokerClient)
    this.client = client instanceof BrokerClient ? client : new BrokerClient(client)
  }

  async close(): Promise<void> {
    if (this.#ownsClient) await this.client.close()
  }

  cluster(options?: CallOptions): Promise<ClusterDescription> {
    return this.client.cluster(options)
  }

  // ---- topics ---------------------------------------------------------------------------------

  createTopic(
    name: string,
    topic: CreateTopicOptions = {},
    options?: CallOptions,
  ): Promise<TopicDescription> {
    return this.client.createTopic({ name, ...topic }, options)
  }

  listTopics(options?: CallOptions): Promise<TopicDescription[]> {
    return this.client.listTopics(options)
  }

  describeTopic(name: string, options?: CallOptions): Promise<TopicDescription> {
    return this.client.describeTopic(name, options)
  }

  deleteTopic(name: string, options?: CallOptions): Promise<void> {
    return this.client.deleteTopic(name, options)
  }

  // ---- groups ---------------------------------------------------------------------------------

  listGroups(options?: CallOptions): Promise<GroupDescription[]> {
    return this.client.listGroups(options)
  }

  describeGroup(group: string, options?: CallOptions): Promise<GroupDescription> {
    return this.client.describeGroup(group, options)
  }

  /** Committed offsets, log end offsets and lag per partition, and their total. */
  async groupLag(group: string, options?: CallOptions): Promise<GroupLag> {
    const partitions = await this.client.groupOffsets(group, options)
    const total = partitions.reduce((sum, p) => sum + (Number.isFinite(p.lag) ? p.lag : 0), 0)
    return { group, total, partitions }
  }

  /** Moves a group with no members to `earliest`, `latest` or a timestamp on `topic`. */
  resetGroupOffsets(group: string, topic: string, to: OffsetSpec, options?: CallOptions): Promise<unknown> {
    return this.client.resetGroupOffsets(group, topic, to, options)
  }

  /** Sets exact offsets (each the next record to read) for a group with no members. */
  setGroupOffsets(
    group: string,
    offsets: readonly TopicPartitionOffset[],
    options?: CallOptions,
  ): Promise<void> {
    return this.client.commitOffsets(group, { offsets }, options)
  }

  setGroupConfig(group: string, config: GroupConfig, options?: CallOptions): Promise<unknown> {
    return this.client.setGroupConfig(group, config, options)
  }

  // ---- exchanges ------------------------------------------------------------------------------

  createExchange(
    name: string,
    type: ExchangeType,
    exchange: { alternateTopic?: string } = {},
    options?: CallOptions,
  ): Promise<ExchangeDescription> {
    return this.client.createExchange({ name, type, ...exchange }, options)
  }

  listExchanges(options?: CallOptions): Promise<ExchangeDescription[]> {
    return this.client.listExchanges(options)
  }

  describeExchange(name: string, options?: CallOptions): Promise<ExchangeDescription> {
    return this.client.describeExchange(name, options)
  }

  deleteExchange(name: string, options?: CallOptions): Promise<void> {
    return this.client.deleteExchange(name, options)
  }

  bind(exchange: string, topic: string, bindingKey?: string, options?: CallOptions): Promise<unknown> {
    return this.client.bind(exchange, bindingKey === undefined ? { topic } : { topic, bindingKey }, options)
  }

  unbind(exchange: string, topic: string, bindingKey?: string, options?: CallOptions): Promise<void> {
    return this.client.unbind(exchange, bindingKey === undefined ? { topic } : { topic, bindingKey }, options)
  }
}
