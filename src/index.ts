/**
 * The package's public list (`import { startBroker } from '@strata-mq/broker'`): the client library,
 * plus what an application needs to embed a broker (tests, tools). Nothing else is public.
 * Importing this loads the broker (fastify, piscina, etcd3); an application that only talks to a
 * broker imports `@strata-mq/broker/client` (src/client/index.ts), which loads none of that.
 */
export * from './client/index.js'
export { loadConfig } from './config/load-config.js'
export type { BrokerConfig } from './config/schema.js'
export { type RunningBroker, startBroker } from './server/start-broker.js'
