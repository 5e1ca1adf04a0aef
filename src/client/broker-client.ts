/**
 * Typed calls for every route in docs/http-api.md ("Routes"), with failover underneath.
 *
 * One `BrokerClient` owns a transport (one keep-alive pool per broker), a server pool (which broker
 * to ask) and a small metadata cache (which broker leads a partition). Producers, consumers and the
 * admin share a client, so they share connections. Every call goes through `withRetry`: a retriable
 * error is tried again after a backoff, a dead connection marks its server as failing and the next
 * attempt goes to another one, and `NOT_LEADER` moves the partition to the leader the broker named
 * (or refreshes metadata when it named none). A non-idempotent request that may already have landed
 * (the connection was cut after the write) is not repeated; the producer makes its writes idempotent
 * with a producer id and sequence so that it can be.
 */
import { NotLeaderError, StrataError } from '../errors.js'
import { BrokerUnreachableError, ClientClosedError } from './client-errors.js'
import { type ClientEvents, type ClientLogger, Notifier } from './events.js'
import { type RetryOptions, type RetryPolicy, retryPolicy, withRetry } from './retry.js'
import { DEFAULT_URL, ServerPool, type ServerPoolOptions } from './server-pool.js'
import {
  authorizationHeader,
  type ClientTlsOptions,
  type HttpMethod,
  HttpTransport,
  type Transport,
  type TransportRequest,
} from './transport.js'
import type {
  AclRule,
  Binding,
  ClusterDescription,
  CommitRequest,
  CreatedToken,
  CreateExchangeRequest,
  CreateTopicRequest,
  CreateUserRequest,
  ExchangeDescription,
  ExchangeRecord,
  FetchOptions,
  FetchResponse,
  GroupConfig,
  GroupDescription,
  GroupFetchOptions,
  GroupFetchResponse,
  GroupOffset,
  HeartbeatResponse,
  JoinGroupRequest,
  JoinGroupResponse,
  OffsetSpec,
  PartitionReassignment,
  PartitionReassignmentRequest,
  PreferredLeaderElection,
  ProduceRequest,
  ProduceResponse,
  PublishResponse,
  SeekRequest,
  TopicDescription,
  UserDescription,
} from './types.js'
import type { Encoding } from './wire-codec.js'

export interface ClientOptions {
  /** Bootstrap brokers: one URL, a list, or a comma-separated list. Default `http://127.0.0.1:8082`. */
  urls?: string | readonly string[]
  /** Replaces the HTTP transport (tests, other protocols). */
  transport?: Transport
  /** Wire encoding for the default transport. Default `msgpack`. */
  encoding?: Encoding
  retry?: RetryOptions
  /** Whole-request timeout, added to `maxWaitMs` for long polls. Default 30 s. */
  requestTimeoutMs?: number
  connectTimeoutMs?: number
  connectionsPerServer?: number
  serverPool?: ServerPoolOptions
  /** CA, client certificate and key for `https://` brokers (see `ClientTlsOptions`). */
  tls?: ClientTlsOptions
  /** Where connects, disconnects and retries are written (they are also events: `client.on('retry', …)`). */
  logger?: ClientLogger
  /** An API token (`strata users token create`), sent as `Authorization: Bearer`. */
  token?: string
  /** User and password, sent as HTTP Basic on every request (prefer a token for services). */
  username?: string
  password?: string
}

/** Per-call options every method accepts. */
export interface CallOptions {
  signal?: AbortSignal
  /** Overrides the client's retry policy for this call (e.g. `{ maxAttempts: 1 }`). */
  retry?: RetryOptions
}

interface Call {
  method: HttpMethod
  path: string
  query?: TransportRequest['query']
  body?: unknown
  /** Safe to send again after a request that may have landed. */
  idempotent: boolean
  /** Where the request belongs, so it goes to the partition's leader. */
  route?: { topic: string; partition?: number }
  /** Extra time on top of the request timeout (a long poll's `maxWaitMs`). */
  waitMs?: number
  /** Requests with the same lane reach a broker in the order they were made (see `TransportRequest`). */
  lane?: string
  options?: CallOptions | undefined
}

// A refresh runs inside a retry's wait; it must not outlive it by much.
const METADATA_TIMEOUT_MS = 2_000

export class BrokerClient extends Notifier<ClientEvents> {
  readonly servers: ServerPool
  readonly #transport: Transport
  readonly #retry: RetryPolicy
  readonly #requestTimeoutMs: number
  /** `topic\0partition` (or `topic\0` for topic-level calls) → the leader's URL. */
  readonly #leaders = new Map<string, string>()
  /** url → whether its last request got an answer; absent before the first one. */
  readonly #reachable = new Map<string, boolean>()
  #closed = false

  constructor(options: ClientOptions = {}) {
    super(options.logger)
    this.servers = new ServerPool(splitUrls(options.urls), options.serverPool)
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000
    const authorization = authorizationHeader(options)
    this.#transport =
      options.transport ??
      new HttpTransport({
        ...(options.encoding !== undefined && { encoding: options.encoding }),
        ...(options.connectTimeoutMs !== undefined && { connectTimeoutMs: options.connectTimeoutMs }),
        ...(options.connectionsPerServer !== undefined && {
          connectionsPerServer: options.connectionsPerServer,
        }),
        ...(options.tls !== undefined && { tls: options.tls }),
        requestTimeoutMs: this.#requestTimeoutMs,
        ...(authorization !== undefined && { authorization }),
      })
    this.#retry = retryPolicy(options.retry)
  }

  get closed(): boolean {
    return this.#closed
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#transport.close()
  }

  // ---- health ---------------------------------------------------------------------------------

  async health(options?: CallOptions): Promise<unknown> {
    return this.#call({ method: 'GET', path: '/healthz', idempotent: true, options })
  }

  async ready(options?: CallOptions): Promise<unknown> {
    return this.#call({ method: 'GET', path: '/readyz', idempotent: true, options })
  }

  /** Prometheus text. */
  async metrics(options?: CallOptions): Promise<string> {
    return String(await this.#call({ method: 'GET', path: '/metrics', idempotent: true, options }))
  }

  async cluster(options?: CallOptions): Promise<ClusterDescription> {
    return this.#call({ method: 'GET', path: '/v1/cluster', idempotent: true, options })
  }

  /** Hands partitions back to their preferred leaders (all, a topic's, or some of its partitions). */
  async electPreferredLeaders(
    request: { topic?: string; partitions?: number[] } = {},
    options?: CallOptions,
  ): Promise<PreferredLeaderElection[]> {
    const body = await this.#call<{ elections: PreferredLeaderElection[] }>({
      method: 'POST',
      path: '/v1/cluster/preferred-leader-election',
      body: request,
      idempotent: true,
      options,
    })
    return body.elections
  }

  /**
   * Starts moving partitions to new replica lists (all or none); answers the reassignments started
   * (a partition already on its list is left out).
   */
  async reassignPartitions(
    partitions: PartitionReassignmentRequest[],
    opts: { throttleBytesPerSec?: number } = {},
    options?: CallOptions,
  ): Promise<PartitionReassignment[]> {
    const body = await this.#call<{ reassignments: PartitionReassignment[] }>({
      method: 'POST',
      path: '/v1/cluster/reassignments',
      body: { partitions, ...(opts.throttleBytesPerSec !== undefined && opts) },
      // A repeat of a request that was applied is refused (the reassignment already runs).
      idempotent: false,
      options,
    })
    return body.reassignments
  }

  /** The partition reassignments under way. */
  async listReassignments(options?: CallOptions): Promise<PartitionReassignment[]> {
    const body = await this.#call<{ reassignments: PartitionReassignment[] }>({
      method: 'GET',
      path: '/v1/cluster/reassignments',
      idempotent: true,
      options,
    })
    return body.reassignments
  }

  /** Cancels a running reassignment: the partition goes back to its previous replicas. */
  async cancelReassignment(
    topic: string,
    partition: number,
    options?: CallOptions,
  ): Promise<PartitionReassignment> {
    return this.#call({
      method: 'DELETE',
      path: `/v1/cluster/reassignments/${seg(topic)}/${partition}`,
      idempotent: false,
      options,
    })
  }

  // ---- topics ---------------------------------------------------------------------------------

  async createTopic(request: CreateTopicRequest, options?: CallOptions): Promise<TopicDescription> {
    return this.#call({ method: 'POST', path: '/v1/topics', body: request, idempotent: false, options })
  }

  async listTopics(options?: CallOptions): Promise<TopicDescription[]> {
    const body = await this.#call<{ topics: TopicDescription[] }>({
      method: 'GET',
      path: '/v1/topics',
      idempotent: true,
      options,
    })
    return body.topics
  }

  async describeTopic(topic: string, options?: CallOptions): Promise<TopicDescription> {
    return this.#call({ method: 'GET', path: `/v1/topics/${seg(topic)}`, idempotent: true, options })
  }

  async deleteTopic(topic: string, options?: CallOptions): Promise<void> {
    this.#forgetTopic(topic)
    await this.#call({ method: 'DELETE', path: `/v1/topics/${seg(topic)}`, idempotent: false, options })
  }

  // ---- produce and fetch ----------------------------------------------------------------------

  /**
   * Appends records (publisher confirm). With `partition` every record goes to that partition.
   * The request is repeated after a cut connection only when it carries a `producerId`, because
   * only then does the broker recognise the repeat and answer with the first write's offsets.
   */
  async produce(
    topic: string,
    request: ProduceRequest,
    partition?: number,
    options?: CallOptions,
  ): Promise<ProduceResponse> {
    const path =
      partition === undefined
        ? `/v1/topics/${seg(topic)}/records`
        : `/v1/topics/${seg(topic)}/partitions/${partition}/records`
    const route = partition === undefined ? { topic } : { topic, partition }
    const idempotent = request.producerId !== undefined
    return this.#call({
      method: 'POST',
      path,
      body: request,
      idempotent,
      route,
      // A partition's idempotent writes keep their order on the way: a producer pipelines them, and
      // the broker refuses a sequence below one it already wrote rather than writing out of order.
      ...(idempotent && partition !== undefined && { lane: routeKey(topic, partition) }),
      options,
    })
  }

  async fetch<V = unknown, K = unknown>(
    topic: string,
    partition: number,
    fetch: FetchOptions,
    options?: CallOptions,
  ): Promise<FetchResponse<V, K>> {
    const { signal, ...query } = fetch
    return this.#call({
      method: 'GET',
      path: `/v1/topics/${seg(topic)}/partitions/${partition}/records`,
      query: { ...query },
      idempotent: true,
      route: { topic, partition },
      waitMs: fetch.maxWaitMs ?? 0,
      options: withSignal(options, signal),
    })
  }

  /** The offset at `earliest`, `latest` (the log end) or the first record at or after a timestamp. */
  async offsetFor(topic: string, partition: number, at: OffsetSpec, options?: CallOptions): Promise<number> {
    const body = await this.#call<{ offset: number }>({
      method: 'GET',
      path: `/v1/topics/${seg(topic)}/partitions/${partition}/offsets`,
      query: { at },
      idempotent: true,
      route: { topic, partition },
      options,
    })
    return body.offset
  }

  // ---- consumer groups ------------------------------------------------------------------------

  async joinGroup(
    group: string,
    request: JoinGroupRequest,
    options?: CallOptions,
  ): Promise<JoinGroupResponse> {
    return this.#call({
      method: 'POST',
      path: `/v1/groups/${seg(group)}/members`,
      body: request,
      idempotent: false,
      options,
    })
  }

  async heartbeat(group: string, memberId: string, options?: CallOptions): Promise<HeartbeatResponse> {
    return this.#call({
      method: 'POST',
      path: `/v1/groups/${seg(group)}/members/${seg(memberId)}/heartbeat`,
      body: {},
      idempotent: true,
      options,
    })
  }

  /**
   * The member's next records. With `commit` it is the POST form: the previous batch is committed
   * and the next one fetched in one round trip.
   */
  async fetchGroup<V = unknown, K = unknown>(
    group: string,
    memberId: string,
    fetch: GroupFetchOptions = {},
    options?: CallOptions,
  ): Promise<GroupFetchResponse<V, K>> {
    const { signal, commit, ...limits } = fetch
    const path = `/v1/groups/${seg(group)}/members/${seg(memberId)}/records`
    const call = commit
      ? ({ method: 'POST', path, body: { ...limits, commit } } as const)
      : ({ method: 'GET', path, query: { ...limits } } as const)
    return this.#call({
      ...call,
      idempotent: true,
      waitMs: limits.maxWaitMs ?? 0,
      options: withSignal(options, signal),
    })
  }

  async commitOffsets(group: string, request: CommitRequest, options?: CallOptions): Promise<void> {
    await this.#call({
      method: 'POST',
      path: `/v1/groups/${seg(group)}/offsets`,
      body: request,
      idempotent: true,
      options,
    })
  }

  async seekGroup(
    group: string,
    memberId: string,
    request: SeekRequest,
    options?: CallOptions,
  ): Promise<void> {
    await this.#call({
      method: 'POST',
      path: `/v1/groups/${seg(group)}/members/${seg(memberId)}/seek`,
      body: request,
      idempotent: true,
      options,
    })
  }

  async groupOffsets(group: string, options?: CallOptions): Promise<GroupOffset[]> {
    const body = await this.#call<{ offsets: GroupOffset[] }>({
      method: 'GET',
      path: `/v1/groups/${seg(group)}/offsets`,
      idempotent: true,
      options,
    })
    return body.offsets
  }

  /** Moves a member-less group's offsets for `topic` to `earliest`, `latest` or a timestamp. */
  async resetGroupOffsets(
    group: string,
    topic: string,
    to: OffsetSpec,
    options?: CallOptions,
  ): Promise<unknown> {
    return this.#call({
      method: 'POST',
      path: `/v1/groups/${seg(group)}/offsets/reset`,
      body: { topic, to },
      idempotent: true,
      options,
    })
  }

  async leaveGroup(group: string, memberId: string, options?: CallOptions): Promise<void> {
    await this.#call({
      method: 'DELETE',
      path: `/v1/groups/${seg(group)}/members/${seg(memberId)}`,
      idempotent: true,
      options,
    })
  }

  async setGroupConfig(group: string, config: GroupConfig, options?: CallOptions): Promise<unknown> {
    return this.#call({
      method: 'PUT',
      path: `/v1/groups/${seg(group)}/config`,
      body: config,
      idempotent: true,
      options,
    })
  }

  async listGroups(options?: CallOptions): Promise<GroupDescription[]> {
    const body = await this.#call<{ groups: GroupDescription[] } | GroupDescription[]>({
      method: 'GET',
      path: '/v1/groups',
      idempotent: true,
      options,
    })
    return Array.isArray(body) ? body : body.groups
  }

  async describeGroup(group: string, options?: CallOptions): Promise<GroupDescription> {
    return this.#call({ method: 'GET', path: `/v1/groups/${seg(group)}`, idempotent: true, options })
  }

  // ---- exchanges ------------------------------------------------------------------------------

  async createExchange(request: CreateExchangeRequest, options?: CallOptions): Promise<ExchangeDescription> {
    return this.#call({ method: 'POST', path: '/v1/exchanges', body: request, idempotent: false, options })
  }

  async listExchanges(options?: CallOptions): Promise<ExchangeDescription[]> {
    const body = await this.#call<{ exchanges: ExchangeDescription[] } | ExchangeDescription[]>({
      method: 'GET',
      path: '/v1/exchanges',
      idempotent: true,
      options,
    })
    return Array.isArray(body) ? body : body.exchanges
  }

  async describeExchange(exchange: string, options?: CallOptions): Promise<ExchangeDescription> {
    return this.#call({ method: 'GET', path: `/v1/exchanges/${seg(exchange)}`, idempotent: true, options })
  }

  async deleteExchange(exchange: string, options?: CallOptions): Promise<void> {
    await this.#call({ method: 'DELETE', path: `/v1/exchanges/${seg(exchange)}`, idempotent: false, options })
  }

  async bind(exchange: string, binding: Binding, options?: CallOptions): Promise<unknown> {
    return this.#call({
      method: 'POST',
      path: `/v1/exchanges/${seg(exchange)}/bindings`,
      body: binding,
      idempotent: true,
      options,
    })
  }

  async unbind(exchange: string, binding: Binding, options?: CallOptions): Promise<void> {
    await this.#call({
      method: 'DELETE',
      path: `/v1/exchanges/${seg(exchange)}/bindings`,
      body: binding,
      idempotent: true,
      options,
    })
  }

  /** Routes records through an exchange; not idempotent, so never repeated after a cut connection. */
  async publish(
    exchange: string,
    records: readonly ExchangeRecord[],
    acks?: 0 | 1 | 'all',
    options?: CallOptions,
  ): Promise<PublishResponse> {
    return this.#call({
      method: 'POST',
      path: `/v1/exchanges/${seg(exchange)}/records`,
      body: acks === undefined ? { records } : { records, acks },
      idempotent: false,
      options,
    })
  }

  // ---- users, tokens and ACLs (superusers; a user may manage their own tokens) ---------------

  async whoami(options?: CallOptions): Promise<{ name: string; superuser: boolean }> {
    return this.#call({ method: 'GET', path: '/v1/whoami', idempotent: true, options })
  }

  async listUsers(options?: CallOptions): Promise<UserDescription[]> {
    const body = await this.#call<{ users: UserDescription[] }>({
      method: 'GET',
      path: '/v1/users',
      idempotent: true,
      options,
    })
    return body.users
  }

  async createUser(request: CreateUserRequest, options?: CallOptions): Promise<UserDescription> {
    return this.#call({ method: 'POST', path: '/v1/users', body: request, idempotent: false, options })
  }

  async updateUser(
    name: string,
    changes: { password?: string; superuser?: boolean },
    options?: CallOptions,
  ): Promise<UserDescription> {
    return this.#call({
      method: 'PUT',
      path: `/v1/users/${seg(name)}`,
      body: changes,
      idempotent: true,
      options,
    })
  }

  async deleteUser(name: string, options?: CallOptions): Promise<void> {
    await this.#call({ method: 'DELETE', path: `/v1/users/${seg(name)}`, idempotent: false, options })
  }

  /** The answer's `token` is shown this once: the broker keeps only its hash. */
  async createToken(user: string, label = '', options?: CallOptions): Promise<CreatedToken> {
    return this.#call({
      method: 'POST',
      path: `/v1/users/${seg(user)}/tokens`,
      body: { label },
      idempotent: false,
      options,
    })
  }

  async revokeToken(user: string, tokenId: string, options?: CallOptions): Promise<void> {
    await this.#call({
      method: 'DELETE',
      path: `/v1/users/${seg(user)}/tokens/${seg(tokenId)}`,
      idempotent: false,
      options,
    })
  }

  async listAcls(options?: CallOptions): Promise<AclRule[]> {
    const body = await this.#call<{ acls: AclRule[] }>({
      method: 'GET',
      path: '/v1/acls',
      idempotent: true,
      options,
    })
    return body.acls
  }

  /** Adding a rule that exists already answers the existing one. */
  async addAcl(rule: Omit<AclRule, 'id'>, options?: CallOptions): Promise<AclRule> {
    return this.#call({ method: 'POST', path: '/v1/acls', body: rule, idempotent: true, options })
  }

  async removeAcl(id: string, options?: CallOptions): Promise<void> {
    await this.#call({ method: 'DELETE', path: `/v1/acls/${seg(id)}`, idempotent: false, options })
  }

  // ---- metadata -------------------------------------------------------------------------------

  /**
   * Learns the brokers (`/v1/cluster`) and, for `topic`, which broker leads each partition. A
   * single broker without the cluster route is fine: then there is nothing to learn.
   */
  async refreshMetadata(topic?: string, signal?: AbortSignal): Promise<void> {
    const cluster = await this.#once<ClusterDescription>(
      { method: 'GET', path: '/v1/cluster' },
      signal,
    ).catch(() => undefined)
    if (topic === undefined) {
      this.#learnBrokers(cluster)
      return
    }
    const description = await this.#once<TopicDescription>(
      { method: 'GET', path: `/v1/topics/${seg(topic)}` },
      signal,
    ).catch(() => undefined)
    if (description) this.#learnLeaders(topic, description, cluster)
    else this.#learnBrokers(cluster)
  }

  /**
   * Describes `topic` and remembers which broker leads each of its partitions (the brokers' URLs
   * come from `/v1/cluster`), so requests for a partition go straight to its leader.
   */
  async topicMetadata(topic: string, options?: CallOptions): Promise<TopicDescription> {
    const [description, cluster] = await Promise.all([
      this.describeTopic(topic, options),
      // A single broker without the cluster route answers 404: then there are no leaders to learn.
      this.cluster({ ...options, retry: { ...options?.retry, maxAttempts: 1 } }).catch(() => undefined),
    ])
    this.#learnLeaders(topic, description, cluster)
    return description
  }

  /** Adds the cluster's brokers to the pool; answers broker id → URL. */
  #learnBrokers(cluster: ClusterDescription | undefined): Map<string, string> {
    const byId = new Map<string, string>()
    for (const broker of cluster?.brokers ?? []) {
      if (typeof broker.url !== 'string') continue
      byId.set(String(broker.id), this.servers.add(broker.url))
    }
    return byId
  }

  #learnLeaders(topic: string, description: TopicDescription, cluster: ClusterDescription | undefined): void {
    const byId = this.#learnBrokers(cluster)
    this.#forgetTopic(topic)
    for (const p of description.partitions) {
      const url = byId.get(String(p.leader))
      if (url) this.#leaders.set(routeKey(topic, p.partition), url)
    }
  }

  // ---- the call path --------------------------------------------------------------------------

  async #call<T>(call: Call): Promise<T> {
    if (this.#closed) throw new ClientClosedError('client')
    const policy = call.options?.retry ? { ...this.#retry, ...call.options.retry } : this.#retry
    let lastUrl = ''
    // A group's requests belong to its coordinator (in a cluster, NOT_LEADER names it): route them.
    const route = call.route ?? groupRoute(call.path)
    return withRetry(
      async () => {
        if (this.#closed) throw new ClientClosedError('client')
        lastUrl = this.#target(route)
        try {
          const res = await this.#transport.request<T>(lastUrl, {
            method: call.method,
            path: call.path,
            ...(call.query !== undefined && { query: call.query }),
            ...(call.body !== undefined && { body: call.body }),
            timeoutMs: this.#requestTimeoutMs + (call.waitMs ?? 0),
            ...(call.lane !== undefined && { lane: call.lane }),
            ...(call.options?.signal !== undefined && { signal: call.options.signal }),
          })
          this.servers.markSuccess(lastUrl)
          this.#markReachable(lastUrl)
          return res.body
        } catch (err) {
          this.#observeFailure(lastUrl, err, route)
          throw err
        }
      },
      policy,
      {
        signal: call.options?.signal,
        shouldRetry: (err) =>
          call.idempotent || !(err instanceof BrokerUnreachableError && err.maybeDelivered),
        delayHintMs: (err) => this.#delayHint(err, lastUrl),
        beforeRetry: (err) => this.#beforeRetry(err, route),
        onRetry: (error, attempt, delayMs) =>
          this.notify('warn', `retrying ${call.method} ${call.path}`, 'retry', {
            url: lastUrl,
            method: call.method,
            path: call.path,
            attempt,
            delayMs,
            error,
          }),
      },
    )
  }

  /** One attempt to whichever server is picked, for metadata refreshes inside a retry's wait. */
  async #once<T>(request: TransportRequest, signal?: AbortSignal): Promise<T> {
    const url = this.servers.pick()
    const timeout = AbortSignal.timeout(METADATA_TIMEOUT_MS)
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout
    try {
      const res = await this.#transport.request<T>(url, {
        ...request,
        timeoutMs: METADATA_TIMEOUT_MS,
        signal: combined,
      })
      this.servers.markSuccess(url)
      return res.body
    } catch (err) {
      if (err instanceof BrokerUnreachableError) this.servers.markFailure(url)
      throw err
    }
  }

  #markReachable(url: string): void {
    if (this.#reachable.get(url) === true) return
    this.#reachable.set(url, true)
    this.notify('info', `connected to broker ${url}`, 'connect', { url })
  }

  #target(route: Call['route']): string {
    if (route) {
      const leader =
        this.#leaders.get(routeKey(route.topic, route.partition)) ??
        (route.partition !== undefined ? undefined : this.#leaders.get(routeKey(route.topic)))
      if (leader && !this.servers.isCoolingDown(leader)) return leader
    }
    return this.servers.pick()
  }

  #observeFailure(url: string, err: unknown, route: Call['route']): void {
    if (err instanceof BrokerUnreachableError) {
      this.servers.markFailure(url)
      if (this.#reachable.get(url) !== false) {
        this.#reachable.set(url, false)
        this.notify('warn', `broker ${url} unreachable`, 'disconnect', { url, error: err })
      }
      for (const [key, leader] of this.#leaders) if (leader === url) this.#leaders.delete(key)
      return
    }
    if (err instanceof NotLeaderError && route) {
      const leaderUrl = err.details?.leaderUrl
      // A topic-level request learns the leader of the partition the broker names, too.
      const named = err.details?.partition
      const keys = [routeKey(route.topic, route.partition)]
      if (route.partition === undefined && typeof named === 'number') keys.push(routeKey(route.topic, named))
      for (const key of keys) {
        if (typeof leaderUrl === 'string' && leaderUrl !== '')
          this.#leaders.set(key, this.servers.add(leaderUrl))
        else this.#leaders.delete(key)
      }
    }
  }

  #delayHint(err: unknown, failedUrl: string): number | undefined {
    // A named new leader, or another healthy broker to try: no reason to wait.
    if (err instanceof NotLeaderError) {
      const leaderUrl = err.details?.leaderUrl
      // Unless the named leader just failed us: it may be dead and not replaced yet (a failover).
      const usable =
        typeof leaderUrl === 'string' && leaderUrl !== failedUrl && !this.servers.isCoolingDown(leaderUrl)
      return usable ? 0 : undefined
    }
    if (err instanceof BrokerUnreachableError) {
      const next = this.servers.pick()
      if (next !== failedUrl && !this.servers.isCoolingDown(next)) return 0
    }
    return undefined
  }

  async #beforeRetry(err: unknown, route: Call['route']): Promise<void> {
    const named = err instanceof NotLeaderError && typeof err.details?.leaderUrl === 'string'
    if (named) return
    if (err instanceof BrokerUnreachableError || err instanceof NotLeaderError) {
      // A group route has no topic to describe; the brokers list is all there is to learn.
      await this.refreshMetadata(route?.topic.startsWith('\u0000') ? undefined : route?.topic)
    }
  }

  #forgetTopic(topic: string): void {
    const prefix = `${topic}\u0000`
    for (const key of this.#leaders.keys()) if (key.startsWith(prefix)) this.#leaders.delete(key)
  }
}

/** Accepts one URL, a list, or comma-separated lists; empty means the default local broker. */
export function splitUrls(urls: string | readonly string[] | undefined): string[] {
  const list = (typeof urls === 'string' ? [urls] : (urls ?? []))
    .flatMap((u) => u.split(','))
    .map((u) => u.trim())
    .filter((u) => u !== '')
  return list.length > 0 ? list : [DEFAULT_URL]
}

/** True when an error is one the broker answered with (as opposed to a network or client error). */
export function isBrokerError(err: unknown): err is StrataError {
  return err instanceof StrataError
}

/** `/v1/groups/<group>/…` → a route keyed by the group (no topic can start with a NUL). */
function groupRoute(path: string): Call['route'] {
  const m = /^\/v1\/groups\/([^/]+)/.exec(path)
  return m ? { topic: `\u0000group:${m[1]}` } : undefined
}

function routeKey(topic: string, partition?: number): string {
  return `${topic}\u0000${partition ?? ''}`
}

function seg(name: string): string {
  return encodeURIComponent(name)
}

function withSignal(
  options: CallOptions | undefined,
  signal: AbortSignal | undefined,
): CallOptions | undefined {
  return signal === undefined ? options : { ...options, signal }
}
