/**
 * Internal topics (`__consumer_offsets`, …) are the broker's own state: a client that could write
 * to `__consumer_offsets` could rewrite any group's committed offsets after the next restart. Every
 * client route that would produce to, read from, delete or route records to a topic refuses an
 * internal one with 403 FORBIDDEN; describing one by name stays open (cluster tooling looks up the
 * coordinator's partition leader that way). The broker's own writers (the group coordinator's
 * offset log, dead letters) call the broker directly, and followers replicate through
 * `/v1/replication/…`, so neither passes here.
 */
import { ForbiddenError } from '../errors.js'
import { INTERNAL_PREFIX } from './topic-registry.js'

export function refuseInternalTopic(topic: string, field: string): void {
  if (!topic.startsWith(INTERNAL_PREFIX)) return
  throw new ForbiddenError(
    `${field} "${topic}" is an internal topic: topics starting with "${INTERNAL_PREFIX}" belong to the ` +
      'broker and can be described, not written, read, deleted or routed to',
    { field, topic },
  )
}

/** The same for each `{topic}` of a list (commits, a join's topics). */
export function refuseInternalTopics(topics: Iterable<string>, field: string): void {
  for (const topic of topics) refuseInternalTopic(topic, field)
}
