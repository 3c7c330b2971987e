import type { JobWebhook } from '../webhooks/outbox.ts'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger as Logger } from 'fastify'
import type { PoolObserver, PrismaClient, TrackedSession } from '@comfy-jobs/db'
import type { QueuedJob } from '@comfy-jobs/contracts'
import { AppError } from '../app-error.ts'
import { DeadlineExceededError, withDeadline } from '../deadline.ts'
import { isUniqueViolation, type JobStore } from './job-store.ts'
import { QueuePushError, type JobQueue } from './job-queue.ts'
import type { StatusCache } from './status-cache.ts'
import type { DatabaseHealth, FailureCause } from './database-health.ts'
import type { CommitOutcome, Outcome } from './commit-outcome.ts'

export interface JobCreatorDeps {
  prisma: PrismaClient
  pool: PoolObserver
  store: JobStore
  queue: JobQueue
  cache: StatusCache
  health: DatabaseHealth
  outcome: CommitOutcome
  logger: Logger
  txMaxWaitMs: number
  txTimeoutMs: number
  queuePushTimeoutMs: number
  /** how long a submit whose COMMIT got no answer asks the database before it answers OUTCOME_UNKNOWN */
  outcomeTimeoutMs: number
  /** how submits are grouped; without it every submit has its own transaction */
  groups?: GroupLimits
  /** told the size of each group as it starts */
  onGroup?: (size: number) => void
}

/** An Idempotency-Key is its owner's: two owners' equal keys are two keys. */
export interface Idempotency {
  owner: string
  key: string
  requestHash: string
}

const doubtKey = (k: { owner: string, key: string }): string => `${k.owner}\n${k.key}`

/** How long a doubtful commit is asked about in the background after the client was told OUTCOME_UNKNOWN. */
const BACKGROUND_RESOLVE_MS = 15 * 60_000

type Phase = 'insert' | 'push' | 'commit'

/** How submits are grouped (see JobCreator). */
export interface GroupLimits {
  /** most members in one group (1: every submit alone) */
  maxSize: number
  /** group transactions at once; a submit that finds them all busy waits for one to end */
  inFlight: number
  /** a waiting submit starts a group anyway after this long, past the inFlight limit */
  maxWaitMs: number
}

/** A submit in a group, from its arrival to its answer. */
interface Member {
  job: QueuedJob
  owner: string
  webhook?: JobWebhook
  createdAt: Date
  idempotency?: Idempotency
  signal?: AbortSignal
  log: Logger
  queuedAt: number
  resolve: (result: 'created' | 'duplicate') => void
  reject: (err: unknown) => void
}

/** Every member of a group gave up before the push: the transaction rolls back. */
class GroupAbandoned extends Error {}

/**
 * Creates jobs: rows, queue entries and status hashes in one interactive transaction per group of
 * submits, and tells each caller the truth about its job. Submits that arrive while `inFlight` group
 * transactions run wait and go together in the next one (at most `maxSize`): one multi-row INSERT,
 * one Redis round trip for every queue add and status init, one COMMIT. A submit that finds a free
 * slot starts at once, alone if it is alone.
 *
 * Each job keeps the contract of a lone submit. A failed push rolls the group back and every member
 * gets the queue error. A group that fails before its push because of a row's own fault (a duplicate
 * Idempotency-Key, a value the database refuses) or a connection that died is retried member by
 * member, so each fails only as a lone submit would; a database that is busy fails every member.
 * When the COMMIT fails or goes unanswered after the push, nothing is removed until the database has
 * said whether the group committed (all its rows did, or none): then every member is accepted, or its
 * queue entry and hash are removed, or, when the database cannot say in time, it is told
 * OUTCOME_UNKNOWN with its job id and the question goes on in the background.
 */
export class JobCreator {
  readonly #d: JobCreatorDeps
  readonly #limits: GroupLimits
  /** doubtful commits still being asked about, by Idempotency-Key: a repeat of the key waits for the answer */
  readonly #doubtful = new Map<string, { jobId: string, settled: Promise<Outcome> }>()
  readonly #closing = new AbortController()
  /** submits waiting for a group, oldest first */
  #waiting: Member[] = []
  #running = 0
  #overdueTimer: NodeJS.Timeout | null = null
  /**
   * the last group to end: how many submits to expect right after it (its members, who come back,
   * and those that were already waiting), when it ended (Date.now()), how long it ran
   */
  #last = { expected: 0, endedAt: 0, tookMs: 0 }
  /** set while submits are held back for the rest of the last group (see #lingers) */
  #lingerTimer: NodeJS.Timeout | null = null
  /** true while the linger timer's own call starts the group it held back */
  #lingerOver = false

  constructor (deps: JobCreatorDeps) {
    this.#d = deps
    this.#limits = deps.groups ?? { maxSize: 1, inFlight: Number.MAX_SAFE_INTEGER, maxWaitMs: 0 }
  }

  /** Submits waiting for a group transaction to start. */
  get waiting (): number {
    return this.#waiting.length
  }

  /** 'duplicate': a submit with the same Idempotency-Key (of the same owner) committed first. */
  create (job: QueuedJob, owner: string, createdAt: Date, idempotency: Idempotency | undefined, signal?: AbortSignal, webhook?: JobWebhook): Promise<'created' | 'duplicate'> {
    return new Promise((resolve, reject) => {
      const log = this.#d.logger.child({ job_id: job.job_id })
      this.#waiting.push({ job, owner, webhook, createdAt, idempotency, signal, log, queuedAt: Date.now(), resolve, reject })
      this.#startGroups()
    })
  }

  /** Starts groups while slots are free (or one past the limit when the oldest waiter is overdue). */
  #startGroups (overdue = false): void {
    while (this.#waiting.length > 0 && (overdue || this.#running < this.#limits.inFlight)) {
      if (!overdue && this.#lingers()) break
      overdue = false
      if (this.#lingerTimer) {
        clearTimeout(this.#lingerTimer)
        this.#lingerTimer = null
      }
      const members = this.#waiting.splice(0, this.#limits.maxSize).filter(m => !this.#gaveUp(m, 'before its group started; nothing written'))
      if (members.length === 0) continue
      this.#running++
      const startedAt = Date.now()
      void this.#commitGroup(members).finally(() => {
        const now = Date.now()
        this.#last = { expected: members.length + this.#waiting.length, endedAt: now, tookMs: now - startedAt }
        this.#running--
        this.#startGroups()
      })
    }
    this.#armOverdueTimer()
  }

  /**
   * Whether the waiting submits should hold a free slot back a little: the last group (of several)
   * has just been answered and its callers are coming back with their next submits. Started at once,
   * the first of them would go alone and the rest would wait for its whole transaction: at mid
   * concurrency, groups of 1 and n-1 alternated and half the transactions carried one submit. So
   * they wait until as many have gathered as the last group carried plus those that were waiting
   * when it ended, or for as long as that group ran (at most maxWaitMs), whichever comes first. A
   * lone submit (the last group was of one with nobody waiting, or ended longer ago than it ran)
   * never waits here.
   */
  #lingers (): boolean {
    if (this.#lingerOver) return false
    const last = this.#last
    if (this.#waiting.length >= Math.min(last.expected, this.#limits.maxSize)) return false
    const wait = last.endedAt + Math.min(last.tookMs, this.#limits.maxWaitMs) - Date.now()
    if (wait <= 0) return false
    this.#lingerTimer ??= setTimeout(() => {
      this.#lingerTimer = null
      this.#lingerOver = true
      this.#startGroups()
      this.#lingerOver = false
    }, wait)
    return true
  }

  #armOverdueTimer (): void {
    if (this.#overdueTimer || this.#waiting.length === 0) return
    const due = this.#waiting[0].queuedAt + this.#limits.maxWaitMs - Date.now()
    this.#overdueTimer = setTimeout(() => {
      this.#overdueTimer = null
      const oldest = this.#waiting[0]
      this.#startGroups(oldest !== undefined && Date.now() - oldest.queuedAt >= this.#limits.maxWaitMs)
    }, Math.max(0, due))
  }

  /** Whether the member's caller has gone (it is told so, and logged); false: still wanted. */
  #gaveUp (m: Member, when: string): boolean {
    if (!m.signal?.aborted) return false
    m.log.info({ step: 'abandoned' }, `the caller gave up ${when}`)
    m.reject(m.signal.reason)
    return true
  }

  /** One transaction for the members; settles every member's promise. */
  async #commitGroup (members: Member[]): Promise<void> {
    const { prisma, pool, store, queue, txMaxWaitMs, txTimeoutMs } = this.#d
    const since = Date.now()
    const session: TrackedSession = { connection: null }
    const abandoned = new AbortController()
    let phase: Phase = 'insert'
    /** members whose callers gave up after the INSERT: their rows are taken out again before the push */
    let gone: Member[] = []
    let live = members
    this.#d.onGroup?.(members.length)
    const transaction = pool.track(session, () => prisma.$transaction(async tx => {
      await store.insertMany(tx, members)
      for (const m of members) m.log.info({ step: 'db_insert', group: members.length }, 'job written to database (uncommitted)')
      abandoned.signal.throwIfAborted()
      if (members.some(m => m.signal?.aborted)) {
        gone = members.filter(m => m.signal?.aborted)
        live = members.filter(m => !gone.includes(m))
        if (live.length === 0) throw new GroupAbandoned()
        await store.deleteInserted(tx, gone.map(m => m.job.job_id))
      }
      phase = 'push'
      await queue.pushMany(live)
      phase = 'commit'
      for (const m of live) {
        m.log.info({ step: 'queue_push' }, 'job pushed to Redis queue')
        m.log.info({ step: 'status_init' }, 'Redis status initialised')
      }
    }, { maxWait: txMaxWaitMs, timeout: txTimeoutMs }))
    try {
      try {
        await withDeadline(transaction, txMaxWaitMs + txTimeoutMs, 'submit transaction')
        for (const m of live) {
          m.log.info({ step: 'commit' }, 'transaction committed')
          m.resolve('created')
        }
        return
      } catch (err) {
        if (err instanceof DeadlineExceededError) {
          // A query or the COMMIT hangs (a link that went silent). End that session here, which frees
          // its pool slot and fails whatever waits on it, so `phase` is final once the transaction settles.
          abandoned.abort(err)
          session.connection?.destroy()
          if (await settles(transaction, this.#d.queuePushTimeoutMs + 1000)) {
            for (const m of live) {
              m.log.info({ step: 'commit' }, 'transaction committed (late)')
              m.resolve('created')
            }
            return
          }
        }
        if (!(err instanceof GroupAbandoned)) await this.#failed(err, phase, live, session, since)
      }
    } catch (err) {
      for (const m of live) m.reject(err) // a bug above must not leave a caller waiting
    } finally {
      for (const m of gone) this.#gaveUp(m, 'before the push; its row was taken out again')
    }
  }

  async #failed (err: unknown, phase: Phase, members: Member[], session: TrackedSession, since: number): Promise<void> {
    if (err instanceof QueuePushError) {
      for (const m of members) {
        m.log.error({ step: 'rollback', err, cause: (err.cause as Error)?.message }, 'Redis push failed, database rolled back')
        m.reject(new AppError('QUEUE_UNAVAILABLE', { details: 'the job queue (Redis) did not take the job; nothing was kept', cause: err }))
      }
      return
    }
    if (phase === 'commit') return this.#commitInDoubt(err, members, session)
    const wanted = members.filter(m => !this.#gaveUp(m, 'before the push; database rolled back'))
    if (wanted.length === 0) return
    if (wanted.length === 1 && wanted[0].idempotency && isUniqueViolation(err)) return wanted[0].resolve('duplicate')
    const cause = isUniqueViolation(err) ? 'refused' : await this.#d.health.explain(err, since)
    if ((cause === 'refused' || cause === 'down') && members.length > 1) {
      // One row's own fault (a duplicate key, a value the database refuses) failed the whole INSERT, or
      // the group's connection died before anything was pushed (a flapping link): each member goes
      // again alone, so it fails only on its own fault or its own connection, as a lone submit would.
      for (const m of wanted) m.log.warn({ step: 'group_retry', err: (err as Error).message, cause }, 'the group insert failed; retrying this job alone')
      await Promise.all(wanted.map(m => this.#commitGroup([m])))
      return
    }
    for (const m of wanted) m.reject(this.#failure(err, cause, m.log))
  }

  /** A database failure outside the insert (the idempotency lookup before it) answered as the insert's would be. */
  async failureOf (err: unknown, since: number, log: Logger): Promise<AppError> {
    return this.#failure(err, await this.#d.health.explain(err, since), log)
  }

  #failure (err: unknown, cause: FailureCause, log: Logger): AppError {
    if (cause === 'down') {
      log.error({ step: 'db_unavailable', err: (err as Error).message }, 'database unreachable; job not created')
      return new AppError('DATABASE_UNAVAILABLE', { headers: { 'retry-after': '2' }, details: 'the database could not be reached; nothing was kept', cause: err })
    }
    if (cause === 'busy') {
      log.warn({ step: 'overloaded', err: (err as Error).message }, 'no database connection free in time; shedding load')
      return new AppError('OVERLOADED', { headers: { 'retry-after': '1' }, cause: err })
    }
    log.error({ step: 'db_insert_failed', err }, 'job could not be written to the database')
    return new AppError('JOB_CREATE_FAILED', { details: 'the database refused the job; nothing was kept', cause: err })
  }

  /** The COMMIT failed or went unanswered: the group's rows all committed or none did; asks which. */
  async #commitInDoubt (err: unknown, members: Member[], session: TrackedSession): Promise<void> {
    for (const m of members) m.log.error({ step: 'commit_failed', err: (err as Error).message, group: members.length }, 'the commit failed or went unanswered after the push; asking the database what became of it')
    const outcome = await this.#d.outcome.resolve(members[0].job.job_id, session, this.#d.outcomeTimeoutMs)
    if (outcome === 'committed') {
      for (const m of members) {
        m.log.warn({ step: 'commit_confirmed' }, 'the row did commit: the job is accepted')
        m.resolve('created')
      }
      return
    }
    if (outcome === 'absent') {
      await Promise.all(members.map(m => this.#compensate(m.job.job_id, m.log)))
      for (const m of members) m.reject(new AppError('JOB_CREATE_FAILED', { details: 'the commit did not happen; nothing was kept', cause: err }))
      return
    }
    await Promise.all(members.map(m => {
      m.log.error({ step: 'outcome_unknown' }, 'the database could not say whether the row committed; the client is told so')
      return this.#d.cache.markUnconfirmed(m.job.job_id).catch((markErr: Error) => m.log.warn({ err: markErr.message }, 'status hash not marked unconfirmed'))
    }))
    const settled = this.#resolveLater(members, session)
    for (const m of members) {
      const key = m.idempotency ? doubtKey(m.idempotency) : undefined
      if (key !== undefined) {
        const doubt = { jobId: m.job.job_id, settled }
        this.#doubtful.set(key, doubt)
        void settled.finally(() => { if (this.#doubtful.get(key) === doubt) this.#doubtful.delete(key) })
      }
      m.reject(outcomeUnknown(m.job.job_id, err))
    }
  }

  /** Before a keyed submit looks for an earlier job: waits (bounded) for a doubtful commit of the same key. */
  async awaitDoubt (idempotency: { owner: string, key: string }): Promise<void> {
    const doubt = this.#doubtful.get(doubtKey(idempotency))
    if (!doubt) return
    const outcome = await withDeadline(doubt.settled, this.#d.outcomeTimeoutMs, 'doubtful commit').catch(() => 'unknown' as const)
    if (outcome === 'unknown') throw outcomeUnknown(doubt.jobId)
  }

  async #resolveLater (members: Member[], session: TrackedSession): Promise<Outcome> {
    const until = Date.now() + BACKGROUND_RESOLVE_MS
    while (Date.now() < until && !this.#closing.signal.aborted) {
      const outcome = await this.#d.outcome.resolve(members[0].job.job_id, session, this.#d.outcomeTimeoutMs)
      if (outcome === 'committed') {
        await Promise.all(members.map(async m => {
          await this.#d.cache.confirm(m.job.job_id).catch(() => {})
          m.log.warn({ step: 'commit_confirmed' }, 'the doubtful commit did happen: the job exists')
        }))
        return outcome
      }
      if (outcome === 'absent') {
        await Promise.all(members.map(m => this.#compensate(m.job.job_id, m.log)))
        return outcome
      }
      await sleep(this.#d.outcomeTimeoutMs, undefined, { signal: this.#closing.signal }).catch(() => {})
    }
    for (const m of members) m.log.error({ step: 'outcome_abandoned' }, 'gave up asking about a doubtful commit; status reads and the sweeper settle it')
    return 'unknown'
  }

  async #compensate (jobId: string, log: Logger): Promise<void> {
    await this.#d.queue.remove(jobId).then(
      () => log.warn({ step: 'compensated' }, 'the row did not commit: queue entry and status key removed'),
      (removeErr: unknown) => log.error({ step: 'compensation_failed', err: removeErr }, 'compensation failed; the sweeper must drop this job'))
  }

  /** Stops the background questions (the app is closing). */
  close (): void {
    this.#closing.abort()
    if (this.#overdueTimer) clearTimeout(this.#overdueTimer)
    if (this.#lingerTimer) clearTimeout(this.#lingerTimer)
  }
}

function outcomeUnknown (jobId: string, cause?: unknown): AppError {
  return new AppError('OUTCOME_UNKNOWN', { headers: { 'retry-after': '2' }, extra: { job_id: jobId }, cause })
}

/** Whether the promise fulfils within ms (false: it rejected or is still pending). */
function settles (promise: Promise<unknown>, ms: number): Promise<boolean> {
  return withDeadline(promise, ms, 'settling').then(() => true, () => false)
}
