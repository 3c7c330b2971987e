// ReadBatcher: a lone read leaves at once; reads asked while the batches in flight are out gather and
// leave as one when a batch comes back; a failed batch fails only its own reads; a stalled batch
// stops holding back the next. The reader is a fake here: what is checked is which keys leave when.
import t from 'tap'
import { ReadBatcher } from '../services/gateway/src/jobs/read-batcher.ts'

interface Sent { keys: string[], answer: (values: string[]) => void, fail: (err: Error) => void }

function fakeReader () {
  const sent: Sent[] = []
  const waiters: Array<() => void> = []
  const readMany = (keys: string[]) => new Promise<string[]>((resolve, reject) => {
    sent.push({ keys, answer: resolve, fail: reject })
    for (const w of waiters.splice(0)) w()
  })
  /** resolves once `n` batches have been sent */
  const batches = async (n: number): Promise<Sent[]> => {
    while (sent.length < n) await new Promise<void>(resolve => waiters.push(resolve))
    return sent
  }
  return { sent, readMany, batches }
}

t.test('a lone read leaves at the end of its turn; reads asked meanwhile wait and leave together', async t => {
  const reader = fakeReader()
  const batcher = new ReadBatcher(reader.readMany, { maxBatch: 100, maxInFlight: 1, stallMs: 60_000 })
  const first = batcher.read('a')
  const [out] = await reader.batches(1)
  t.strictSame(out.keys, ['a'], 'the first read went alone, without waiting for company')
  const later = ['b', 'c', 'd'].map(k => batcher.read(k))
  await new Promise(resolve => setImmediate(resolve))
  await new Promise(resolve => setImmediate(resolve))
  t.equal(reader.sent.length, 1, 'nothing more leaves while the one batch allowed is out')
  out.answer(['A'])
  t.equal(await first, 'A')
  const [, second] = await reader.batches(2)
  t.strictSame(second.keys, ['b', 'c', 'd'], 'the reads that gathered left as one batch')
  second.answer(['B', 'C', 'D'])
  t.strictSame(await Promise.all(later), ['B', 'C', 'D'], 'each read got its own key\'s answer')
})

t.test('batches are bounded in size, and as many go at once as are allowed', async t => {
  const reader = fakeReader()
  const batcher = new ReadBatcher(reader.readMany, { maxBatch: 2, maxInFlight: 2, stallMs: 60_000 })
  const reads = ['a', 'b', 'c', 'd', 'e'].map(k => batcher.read(k))
  const sent = await reader.batches(2)
  t.strictSame(sent.map(s => s.keys), [['a', 'b'], ['c', 'd']], 'two batches of two out; the fifth read waits')
  sent[1].answer(['C', 'D'])
  const [, , third] = await reader.batches(3)
  t.strictSame(third.keys, ['e'], 'it leaves when a slot frees')
  sent[0].answer(['A', 'B'])
  third.answer(['E'])
  t.strictSame(await Promise.all(reads), ['A', 'B', 'C', 'D', 'E'])
})

t.test('a failed batch rejects its own reads only, and frees its slot', async t => {
  const reader = fakeReader()
  const batcher = new ReadBatcher(reader.readMany, { maxBatch: 100, maxInFlight: 1, stallMs: 60_000 })
  const doomed = [batcher.read('a'), batcher.read('b')]
  const [out] = await reader.batches(1)
  const next = batcher.read('c')
  out.fail(new Error('connection lost'))
  const results = await Promise.allSettled(doomed)
  t.strictSame(results.map(r => r.status), ['rejected', 'rejected'])
  const [, second] = await reader.batches(2)
  t.strictSame(second.keys, ['c'], 'the read that waited went after the failure')
  second.answer(['C'])
  t.equal(await next, 'C')
})

t.test('a reader that throws instead of rejecting fails the batch the same way', async t => {
  const batcher = new ReadBatcher<string>(() => { throw new Error('not connected') }, { maxBatch: 100, maxInFlight: 1, stallMs: 60_000 })
  const results = await Promise.allSettled([batcher.read('a'), batcher.read('b')])
  t.strictSame(results.map(r => r.status), ['rejected', 'rejected'])
})

t.test('a batch that stays out past stallMs no longer holds back the reads behind it', async t => {
  const reader = fakeReader()
  const batcher = new ReadBatcher(reader.readMany, { maxBatch: 100, maxInFlight: 1, stallMs: 20 })
  const stuck = batcher.read('a')
  const [out] = await reader.batches(1)
  const behind = batcher.read('b')
  const [, second] = await reader.batches(2) // only the stall bound lets it go: the first never answers
  t.strictSame(second.keys, ['b'])
  second.answer(['B'])
  t.equal(await behind, 'B')
  out.answer(['A'])
  t.equal(await stuck, 'A', 'the stalled batch still answers its own reads when it comes back')
})
