/**
 * The public surface of exchanges: RabbitMQ-style routing (direct, topic, fanout) onto topics.
 * The broker and the HTTP routes import from here, never from the files behind it.
 */

export type { PrepareTopicWrite, PublishAcks, PublishOptions, PublishOutcome } from './exchange-publisher.js'
export { publish } from './exchange-publisher.js'
export type {
  BindingRequest,
  CreateExchangeRequest,
  ExchangeBinding,
  ExchangeDefinition,
  ExchangeDescription,
  ExchangeRegistryOptions,
  ExchangeRegistrySnapshot,
  ExchangeStats,
} from './exchange-registry.js'
export { ExchangeRegistry, MAX_BINDING_KEY_BYTES } from './exchange-registry.js'
export type { ExchangeType } from './exchange-routers.js'
export { ExchangeTypes } from './exchange-routers.js'
export type { ExchangeBackend } from './exchange-store.js'
export { ExchangeStore, readExchangesFile, writeExchangesFile } from './exchange-store.js'
export type { TopicWildcard } from './topic-matcher.js'
export { splitTopicWords, TopicTrie, TopicWildcards } from './topic-matcher.js'
