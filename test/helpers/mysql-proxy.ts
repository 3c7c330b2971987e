import { TcpProxy, type Link } from './tcp-proxy.ts'

/**
 * What the proxy does to the COMMIT of a transaction that inserted a job:
 * - `before`: the link dies and the COMMIT never reaches the server (it rolls back);
 * - `after`: the COMMIT reaches the server, which commits; its answer is swallowed and the link dies;
 * - `hold`: the COMMIT waits in the proxy, the link stays open, until `release()` says what happens.
 * With `outage`, the whole database goes away at that moment (every link cut, new ones refused) until resume().
 * With `orphan` (hold only), the server's session outlives its client: when the client closes, the
 * proxy keeps the server side open, as a link that went silent would (the server never hears of it).
 */
export interface CommitFault {
  at: 'before' | 'after' | 'hold'
  outage?: boolean
  orphan?: boolean
}

interface Held {
  link: Link
  packet: Buffer
}

const COM_QUERY = 0x03

/**
 * A TCP proxy to MariaDB that reads the client's side of the MySQL protocol (packets: 3-byte length,
 * sequence byte, payload; a text query is COM_QUERY + SQL), so a test can fail a submit's COMMIT
 * precisely. A connection that has sent `INSERT INTO jobs` since its last transaction boundary is a
 * submit's; its next COMMIT meets the armed fault.
 */
export class MysqlProxy extends TcpProxy {
  #faults: CommitFault[] = []
  /** given each COMMIT of a submit while no fault is armed; a fault it returns applies to that COMMIT */
  #chooser: (() => CommitFault | null) | null = null
  readonly #pending = new WeakMap<Link, Buffer>()
  readonly #inserting = new WeakSet<Link>()
  readonly #swallowing = new WeakSet<Link>()
  #held: Held[] = []
  /** COMMITs met by a fault, by kind */
  readonly hits: Record<CommitFault['at'], number> = { before: 0, after: 0, hold: 0 }
  #onHit: Array<(fault: CommitFault) => void> = []
  /** links whose swallowed COMMIT answer starts an outage */
  readonly #outageAfter = new WeakSet<Link>()
  /** links whose server side stays open when their client goes */
  readonly #orphans = new WeakSet<Link>()

  /** The next submit COMMITs, one fault each, in order. */
  failCommits (...faults: CommitFault[]): void {
    this.#faults.push(...faults)
  }

  /** Every submit COMMIT asks `choose` (e.g. at random); null lets it through. */
  failCommitsWith (choose: ((() => CommitFault | null)) | null): void {
    this.#chooser = choose
  }

  /** Resolves when the next fault has met a COMMIT. */
  nextHit (): Promise<CommitFault> {
    return new Promise(resolve => this.#onHit.push(resolve))
  }

  /**
   * Ends the held COMMITs whose links are still open: `commit` sends them on (answers included),
   * `rollback` cuts their links. Returns how many it ended.
   */
  release (outcome: 'commit' | 'rollback'): number {
    const open = this.#held.filter(h => !h.link.upstream.destroyed && !h.link.client.destroyed)
    this.#held = []
    for (const { link, packet } of open) {
      if (outcome === 'commit') link.upstream.write(packet)
      else link.drop()
    }
    return open.length
  }

  protected override toTarget (link: Link, chunk: Buffer): void {
    let buffer = Buffer.concat([this.#pending.get(link) ?? Buffer.alloc(0), chunk])
    while (buffer.length >= 4) {
      const size = buffer.readUIntLE(0, 3)
      if (buffer.length < 4 + size) break
      const packet = buffer.subarray(0, 4 + size)
      buffer = buffer.subarray(4 + size)
      if (!this.#packet(link, packet)) { this.#pending.delete(link); return }
    }
    this.#pending.set(link, buffer)
  }

  protected override clientGone (link: Link): void {
    if (this.#orphans.has(link)) link.client.destroy()
    else super.clientGone(link)
  }

  /** Whether the server still holds the session of an orphaned link (see CommitFault.orphan). */
  orphansAlive (): number {
    return this.#held.filter(h => this.#orphans.has(h.link) && !h.link.upstream.destroyed).length
  }

  protected override toClient (link: Link, chunk: Buffer): void {
    if (this.#swallowing.has(link)) {
      // the answer to a COMMIT the client must not see: the server has committed
      if (this.#outageAfter.has(link)) this.cut(true)
      link.drop()
      return
    }
    super.toClient(link, chunk)
  }

  /** Passes one packet on, or applies a fault; false when the link is gone. */
  #packet (link: Link, packet: Buffer): boolean {
    const sql = packet[4] === COM_QUERY ? packet.subarray(5, 5 + 64).toString('latin1').trimStart().toUpperCase() : ''
    if (/^INSERT\s+INTO\s+`?JOBS`?\s/.test(sql)) this.#inserting.add(link)
    const isCommit = /^COMMIT\b/.test(sql)
    if (isCommit || /^(ROLLBACK|BEGIN|START TRANSACTION)\b/.test(sql)) {
      const submit = isCommit && this.#inserting.has(link)
      this.#inserting.delete(link)
      const fault = submit ? (this.#faults.shift() ?? this.#chooser?.() ?? null) : null
      if (fault) return this.#apply(fault, link, packet)
    }
    link.upstream.write(packet)
    return true
  }

  #apply (fault: CommitFault, link: Link, packet: Buffer): boolean {
    this.hits[fault.at]++
    for (const fn of this.#onHit.splice(0)) fn(fault)
    switch (fault.at) {
      case 'before':
        if (fault.outage) this.cut(true)
        link.drop()
        return false
      case 'after':
        this.#swallowing.add(link)
        if (fault.outage) this.#outageAfter.add(link)
        link.upstream.write(packet)
        return true
      case 'hold':
        this.#held.push({ link, packet })
        if (fault.orphan) this.#orphans.add(link)
        if (fault.outage) this.#refuseOthers(link)
        return true
    }
  }

  /** Every link but `keep` cut, new ones refused: the held COMMIT's session lives on, nobody can ask about it. */
  #refuseOthers (keep: Link): void {
    this.refuseNew = true
    for (const other of this.links) if (other !== keep) other.drop()
  }
}
