/**
 * Every error the broker can answer with, in one table.
 *
 * The codes and statuses are the wire contract of docs/http-api.md ("Errors"). A code is never reused or
 * renamed; a retired code stays in `ErrorCodes` with a comment. The client maps codes back to these
 * classes (`errorFromEnvelope`) and decides retries from `retriable`, never from the message.
 */

export const ErrorCodes = {
  INVALID_REQUEST: { status: 400, retriable: false },
  INVALID_TOPIC_NAME: { status: 400, retriable: false },
  INVALID_CONFIG: { status: 400, retriable: false },
  TOPIC_NOT_FOUND: { status: 404, retriable: false },
  PARTITION_NOT_FOUND: { status: 404, retriable: false },
  GROUP_NOT_FOUND: { status: 404, retriable: false },
  MEMBER_NOT_FOUND: { status: 404, retriable: false },
  EXCHANGE_NOT_FOUND: { status: 404, retriable: false },
  NOT_FOUND: { status: 404, retriable: false },
  TOPIC_EXISTS: { status: 409, retriable: false },
  EXCHANGE_EXISTS: { status: 409, retriable: false },
  REBALANCE_IN_PROGRESS: { status: 409, retriable: true },
  STALE_GENERATION: { status: 409, retriable: false },
  GROUP_NOT_EMPTY: { status: 409, retriable: false },
  DUPLICATE_SEQUENCE: { status: 409, retriable: false },
  OUT_OF_ORDER_SEQUENCE: { status: 409, retriable: true },
  PAYLOAD_TOO_LARGE: { status: 413, retriable: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retriable: false },
  OFFSET_OUT_OF_RANGE: { status: 416, retriable: false },
  NOT_LEADER: { status: 421, retriable: true },
  THROTTLED: { status: 429, retriable: true },
  MEMORY_ALARM: { status: 503, retriable: true },
  DISK_ALARM: { status: 503, retriable: true },
  NOT_ENOUGH_REPLICAS: { status: 503, retriable: true },
  NOT_READY: { status: 503, retriable: true },
  PARTITION_OFFLINE: { status: 503, retriable: false },
  STORAGE_ERROR: { status: 500, retriable: false },
  WORKER_FAILED: { status: 503, retriable: true },
  ACK_TIMEOUT: { status: 504, retriable: true },
  REQUEST_TIMEOUT: { status: 408, retriable: true },
  INTERNAL: { status: 500, retriable: false },
  UNAUTHENTICATED: { status: 401, retriable: false },
  FORBIDDEN: { status: 403, retriable: false },
  URI_TOO_LONG: { status: 414, retriable: false },
  GROUP_MAX_SIZE_REACHED: { status: 409, retriable: false },
  PARTITION_LIMIT_REACHED: { status: 409, retriable: false },
} as const satisfies Record<string, { status: number; retriable: boolean }>

export type ErrorCode = keyof typeof ErrorCodes

export type ErrorDetails = Record<string, unknown>

export interface ErrorEnvelope {
  error: { code: string; message: string; details?: ErrorDetails }
}

/** Base of every error the broker answers with. Subclasses fix `code`; instances carry details. */
export class StrataError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly retriable: boolean
  readonly details: ErrorDetails | undefined

  constructor(code: ErrorCode, message: string, details?: ErrorDetails, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StrataError'
    this.code = code
    this.statusCode = ErrorCodes[code].status
    this.retriable = ErrorCodes[code].retriable
    this.details = details
  }

  toEnvelope(): ErrorEnvelope {
    const error: ErrorEnvelope['error'] = { code: this.code, message: this.message }
    if (this.details !== undefined) error.details = this.details
    return { error }
  }
}

/** One class per code, so callers can `instanceof` and the client can map codes back. */
function defineError<C extends ErrorCode>(code: C, name: string) {
  const Cls = class extends StrataError {
    static readonly code: C = code
    constructor(message: string, details?: ErrorDetails, options?: { cause?: unknown }) {
      super(code, message, details, options)
      this.name = name
    }
  }
  Object.defineProperty(Cls, 'name', { value: name })
  return Cls
}

export const InvalidRequestError = defineError('INVALID_REQUEST', 'InvalidRequestError')
export type InvalidRequestError = InstanceType<typeof InvalidRequestError>
export const InvalidTopicNameError = defineError('INVALID_TOPIC_NAME', 'InvalidTopicNameError')
export type InvalidTopicNameError = InstanceType<typeof InvalidTopicNameError>
export const InvalidConfigError = defineError('INVALID_CONFIG', 'InvalidConfigError')
export type InvalidConfigError = InstanceType<typeof InvalidConfigError>
export const TopicNotFoundError = defineError('TOPIC_NOT_FOUND', 'TopicNotFoundError')
export type TopicNotFoundError = InstanceType<typeof TopicNotFoundError>
export const PartitionNotFoundError = defineError('PARTITION_NOT_FOUND', 'PartitionNotFoundError')
export type PartitionNotFoundError = InstanceType<typeof PartitionNotFoundError>
export const GroupNotFoundError = defineError('GROUP_NOT_FOUND', 'GroupNotFoundError')
export type GroupNotFoundError = InstanceType<typeof GroupNotFoundError>
export const MemberNotFoundError = defineError('MEMBER_NOT_FOUND', 'MemberNotFoundError')
export type MemberNotFoundError = InstanceType<typeof MemberNotFoundError>
export const ExchangeNotFoundError = defineError('EXCHANGE_NOT_FOUND', 'ExchangeNotFoundError')
export type ExchangeNotFoundError = InstanceType<typeof ExchangeNotFoundError>
export const NotFoundError = defineError('NOT_FOUND', 'NotFoundError')
export type NotFoundError = InstanceType<typeof NotFoundError>
export const TopicExistsError = defineError('TOPIC_EXISTS', 'TopicExistsError')
export type TopicExistsError = InstanceType<typeof TopicExistsError>
export const ExchangeExistsError = defineError('EXCHANGE_EXISTS', 'ExchangeExistsError')
export type ExchangeExistsError = InstanceType<typeof ExchangeExistsError>
export const RebalanceInProgressError = defineError('REBALANCE_IN_PROGRESS', 'RebalanceInProgressError')
export type RebalanceInProgressError = InstanceType<typeof RebalanceInProgressError>
export const StaleGenerationError = defineError('STALE_GENERATION', 'StaleGenerationError')
export type StaleGenerationError = InstanceType<typeof StaleGenerationError>
export const GroupNotEmptyError = defineError('GROUP_NOT_EMPTY', 'GroupNotEmptyError')
export type GroupNotEmptyError = InstanceType<typeof GroupNotEmptyError>
export const DuplicateSequenceError = defineError('DUPLICATE_SEQUENCE', 'DuplicateSequenceError')
export type DuplicateSequenceError = InstanceType<typeof DuplicateSequenceError>
export const OutOfOrderSequenceError = defineError('OUT_OF_ORDER_SEQUENCE', 'OutOfOrderSequenceError')
export type OutOfOrderSequenceError = InstanceType<typeof OutOfOrderSequenceError>
export const PayloadTooLargeError = defineError('PAYLOAD_TOO_LARGE', 'PayloadTooLargeError')
export type PayloadTooLargeError = InstanceType<typeof PayloadTooLargeError>
export const UnsupportedMediaTypeError = defineError('UNSUPPORTED_MEDIA_TYPE', 'UnsupportedMediaTypeError')
export type UnsupportedMediaTypeError = InstanceType<typeof UnsupportedMediaTypeError>
export const OffsetOutOfRangeError = defineError('OFFSET_OUT_OF_RANGE', 'OffsetOutOfRangeError')
export type OffsetOutOfRangeError = InstanceType<typeof OffsetOutOfRangeError>
export const NotLeaderError = defineError('NOT_LEADER', 'NotLeaderError')
export type NotLeaderError = InstanceType<typeof NotLeaderError>
export const ThrottledError = defineError('THROTTLED', 'ThrottledError')
export type ThrottledError = InstanceType<typeof ThrottledError>
export const MemoryAlarmError = defineError('MEMORY_ALARM', 'MemoryAlarmError')
export type MemoryAlarmError = InstanceType<typeof MemoryAlarmError>
export const DiskAlarmError = defineError('DISK_ALARM', 'DiskAlarmError')
export type DiskAlarmError = InstanceType<typeof DiskAlarmError>
export const NotEnoughReplicasError = defineError('NOT_ENOUGH_REPLICAS', 'NotEnoughReplicasError')
export type NotEnoughReplicasError = InstanceType<typeof NotEnoughReplicasError>
export const NotReadyError = defineError('NOT_READY', 'NotReadyError')
export type NotReadyError = InstanceType<typeof NotReadyError>
export const PartitionOfflineError = defineError('PARTITION_OFFLINE', 'PartitionOfflineError')
export type PartitionOfflineError = InstanceType<typeof PartitionOfflineError>
export const StorageError = defineError('STORAGE_ERROR', 'StorageError')
export type StorageError = InstanceType<typeof StorageError>
export const WorkerFailedError = defineError('WORKER_FAILED', 'WorkerFailedError')
export type WorkerFailedError = InstanceType<typeof WorkerFailedError>
export const AckTimeoutError = defineError('ACK_TIMEOUT', 'AckTimeoutError')
export type AckTimeoutError = InstanceType<typeof AckTimeoutError>
export const RequestTimeoutError = defineError('REQUEST_TIMEOUT', 'RequestTimeoutError')
export type RequestTimeoutError = InstanceType<typeof RequestTimeoutError>
export const InternalError = defineError('INTERNAL', 'InternalError')
export type InternalError = InstanceType<typeof InternalError>
export const UnauthenticatedError = defineError('UNAUTHENTICATED', 'UnauthenticatedError')
export type UnauthenticatedError = InstanceType<typeof UnauthenticatedError>
export const ForbiddenError = defineError('FORBIDDEN', 'ForbiddenError')
export type ForbiddenError = InstanceType<typeof ForbiddenError>
export const UriTooLongError = defineError('URI_TOO_LONG', 'UriTooLongError')
export type UriTooLongError = InstanceType<typeof UriTooLongError>
export const GroupMaxSizeReachedError = defineError('GROUP_MAX_SIZE_REACHED', 'GroupMaxSizeReachedError')
export type GroupMaxSizeReachedError = InstanceType<typeof GroupMaxSizeReachedError>
export const PartitionLimitReachedError = defineError('PARTITION_LIMIT_REACHED', 'PartitionLimitReachedError')
export type PartitionLimitReachedError = InstanceType<typeof PartitionLimitReachedError>

/** Every class by its code: the client's way back from a wire envelope to a typed error. */
export const errorClassesByCode: { [C in ErrorCode]: ReturnType<typeof defineError<C>> } = {
  INVALID_REQUEST: InvalidRequestError,
  INVALID_TOPIC_NAME: InvalidTopicNameError,
  INVALID_CONFIG: InvalidConfigError,
  TOPIC_NOT_FOUND: TopicNotFoundError,
  PARTITION_NOT_FOUND: PartitionNotFoundError,
  GROUP_NOT_FOUND: GroupNotFoundError,
  MEMBER_NOT_FOUND: MemberNotFoundError,
  EXCHANGE_NOT_FOUND: ExchangeNotFoundError,
  NOT_FOUND: NotFoundError,
  TOPIC_EXISTS: TopicExistsError,
  EXCHANGE_EXISTS: ExchangeExistsError,
  REBALANCE_IN_PROGRESS: RebalanceInProgressError,
  STALE_GENERATION: StaleGenerationError,
  GROUP_NOT_EMPTY: GroupNotEmptyError,
  DUPLICATE_SEQUENCE: DuplicateSequenceError,
  OUT_OF_ORDER_SEQUENCE: OutOfOrderSequenceError,
  PAYLOAD_TOO_LARGE: PayloadTooLargeError,
  UNSUPPORTED_MEDIA_TYPE: UnsupportedMediaTypeError,
  OFFSET_OUT_OF_RANGE: OffsetOutOfRangeError,
  NOT_LEADER: NotLeaderError,
  THROTTLED: ThrottledError,
  MEMORY_ALARM: MemoryAlarmError,
  DISK_ALARM: DiskAlarmError,
  NOT_ENOUGH_REPLICAS: NotEnoughReplicasError,
  NOT_READY: NotReadyError,
  PARTITION_OFFLINE: PartitionOfflineError,
  STORAGE_ERROR: StorageError,
  WORKER_FAILED: WorkerFailedError,
  ACK_TIMEOUT: AckTimeoutError,
  REQUEST_TIMEOUT: RequestTimeoutError,
  INTERNAL: InternalError,
  UNAUTHENTICATED: UnauthenticatedError,
  FORBIDDEN: ForbiddenError,
  URI_TOO_LONG: UriTooLongError,
  GROUP_MAX_SIZE_REACHED: GroupMaxSizeReachedError,
  PARTITION_LIMIT_REACHED: PartitionLimitReachedError,
}

/**
 * Rebuilds a typed error from a wire envelope. Unknown codes (a newer broker) become a
 * non-retriable `StrataError` with code INTERNAL and the original code in details.
 */
export function errorFromEnvelope(envelope: unknown, statusCode?: number): StrataError {
  const body = (envelope as Partial<ErrorEnvelope> | undefined)?.error
  const code = body?.code
  const message = body?.message ?? `HTTP ${statusCode ?? '?'}`
  if (typeof code === 'string' && Object.hasOwn(errorClassesByCode, code)) {
    const Cls = errorClassesByCode[code as ErrorCode]
    return new Cls(message, body?.details)
  }
  return new InternalError(message, { ...body?.details, code, statusCode })
}

/** Errors crossing a worker thread lose their class; this puts it back from the plain fields. */
export function serializeError(err: unknown): { code: string; message: string; details?: ErrorDetails } {
  if (err instanceof StrataError) {
    const out: { code: string; message: string; details?: ErrorDetails } = {
      code: err.code,
      message: err.message,
    }
    if (err.details !== undefined) out.details = err.details
    return out
  }
  const message = err instanceof Error ? err.message : String(err)
  return { code: 'INTERNAL', message }
}
