/**
 * The package's public list (`import { Producer } from 'strata'`): the client library, plus what
 * an application needs to embed a broker (tests, tools). Nothing else is public.
 */
export * from './client/index.js'
export { loadConfig } from './config/load-config.js'
export type { BrokerConfig } from './config/schema.js'
export { type RunningBroker, startBroker } from './server/start-broker.js'
