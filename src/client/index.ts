/**
 * The client library's public list: everything an application imports, and nothing else. This is
 * the package's `./client` entry (`import { Producer } from '@strata-mq/broker/client'`), kept
 * free of the broker: nothing under src/client/ imports outside it except `src/errors.ts` (which
 * imports nothing), and its only packages are msgpackr and undici, the dependencies a split-out
 * `@strata-mq/client` package would carry (test/unit/client/imports.test.ts holds it to that).
 *
 * Quick start:
 *
 *     import { Admin, BrokerClient, Consumer, Producer } from '@strata-mq/broker/client'
 *
 *     const client = new BrokerClient({ urls: ['http://10.0.0.1:8082', 'http://10.0.0.2:8082'] })
 *     await new Admin(client).createTopic('orders', { partitions: 3 })
 *
 *     const producer = new Producer(client, { lingerMs: 5 })
 *     const [{ partition, offset }] = await producer.send('orders', { key: 'o-1', value: { total: 42 } })
 *
 *     const consumer = new Consumer(client, { group: 'billing', topics: ['orders'] })
 *     for await (const record of consumer) {
 *       await bill(record.value)
 *       consumer.commit(record)
 *     }
 *
 * Errors the broker answers with are the typed classes of `src/errors.ts` (re-exported here);
 * `BrokerUnreachableError` and `ClientClosedError` come from the client's side of the wire.
 */
export {
  AckTimeoutError,
  DiskAlarmError,
  DuplicateSequenceError,
  type ErrorCode,
  ErrorCodes,
  ExchangeExistsError,
  ExchangeNotFoundError,
  errorClassesByCode,
  errorFromEnvelope,
  GroupNotEmptyError,
  GroupNotFoundError,
  InternalError,
  InvalidConfigError,
  InvalidRequestError,
  InvalidTopicNameError,
  MemberNotFoundError,
  MemoryAlarmError,
  NotEnoughReplicasError,
  NotFoundError,
  NotLeaderError,
  NotReadyError,
  OffsetOutOfRangeError,
  OutOfOrderSequenceError,
  PartitionNotFoundError,
  PartitionOfflineError,
  PayloadTooLargeError,
  RebalanceInProgressError,
  RequestTimeoutError,
  StaleGenerationError,
  StorageError,
  StrataError,
  ThrottledError,
  TopicExistsError,
  TopicNotFoundError,
  UnsupportedMediaTypeError,
  WorkerFailedError,
} from '../errors.js'
export { Admin, type CreateTopicOptions, type GroupLag } from './admin.js'
export {
  BrokerClient,
  type CallOptions,
  type ClientOptions,
  isBrokerError,
  splitUrls,
} from './broker-client.js'
export {
  BadResponseError,
  BrokerUnreachableError,
  ClientClosedError,
  type ClientErrorCode,
  ClientErrorCodes,
} from './client-errors.js'
export { Consumer, type ConsumerBatch, type ConsumerOptions } from './consumer.js'
export type { ClientEvents, ClientLogger, ConsumerEvents } from './events.js'
export { Producer, type ProducerOptions } from './producer.js'
export {
  backoffDelayMs,
  DEFAULT_RETRY,
  isRetriable,
  type RetryHooks,
  type RetryOptions,
  type RetryPolicy,
  withRetry,
} from './retry.js'
export { DEFAULT_URL, ServerPool, type ServerPoolOptions, type ServerState } from './server-pool.js'
export { TlsHandshakeError } from './tls-errors.js'
export { type StartPosition, TopicReader, type TopicReaderOptions } from './topic-reader.js'
export {
  type ClientTlsOptions,
  type HttpMethod,
  HttpMethods,
  HttpTransport,
  type HttpTransportOptions,
  type Transport,
  type TransportRequest,
  type TransportResponse,
} from './transport.js'
export type {
  Acks,
  Binding,
  BrokerDescription,
  ClusterDescription,
  CommitRequest,
  ConsumerRecord,
  CreateExchangeRequest,
  CreateTopicRequest,
  Durability,
  ExchangeDescription,
  ExchangeRecord,
  ExchangeType,
  FetchedRecord,
  FetchOptions,
  FetchResponse,
  GroupConfig,
  GroupDescription,
  GroupFetchOptions,
  GroupFetchResponse,
  GroupMemberDescription,
  GroupOffset,
  HeartbeatResponse,
  JoinGroupRequest,
  JoinGroupResponse,
  OffsetSpec,
  PartitionDescription,
  ProduceRequest,
  ProduceResponse,
  ProducerRecord,
  PublishResponse,
  RecordHeaders,
  RecordOffset,
  RoutedOffset,
  SeekRequest,
  TopicConfig,
  TopicDescription,
  TopicPartition,
  TopicPartitionOffset,
} from './types.js'
export { type Encoding, Encodings } from './wire-codec.js'
