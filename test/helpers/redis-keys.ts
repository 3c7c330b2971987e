import type { Redis } from 'ioredis'

/** How many keys match the pattern (SCAN, so a test can count without KEYS). */
export async function countKeys (client: Redis, pattern: string): Promise<number> {
  let cursor = '0'
  let n = 0
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    n += keys.length
  } while (cursor !== '0')
  return n
}
