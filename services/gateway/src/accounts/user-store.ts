import type { PrismaClient } from '@comfy-jobs/db'

/** A user as the original's API shows one (`/api/me`, register, login). */
export interface UserView {
  id: number
  email: string
  name: string
  role: string
  created_at: string
}

interface Row { id: number, email: string, name: string, role: string, createdAt: Date }

const VIEW = { id: true, email: true, name: true, role: true, createdAt: true } as const

function view (row: Row): UserView {
  return { id: row.id, email: row.email, name: row.name, role: row.role, created_at: row.createdAt.toISOString() }
}

/** The owner of a user's jobs and API keys. `:` is outside OWNER_PATTERN, so no admin-made owner can be a user's. */
export function ownerOfUser (userId: number): string {
  return `user:${userId}`
}

function isDuplicate (err: unknown): boolean {
  const e = err as { code?: string, message?: string }
  return e.code === 'P2002' || /Duplicate entry|unique constraint/i.test(e.message ?? '')
}

/** The users table. */
export class UserStore {
  readonly #prisma: PrismaClient

  constructor (prisma: PrismaClient) {
    this.#prisma = prisma
  }

  /** A new user; null when the email is taken. */
  async create (input: { email: string, name: string, passwordHash: string }): Promise<UserView | null> {
    try {
      return view(await this.#prisma.user.create({ data: input, select: VIEW }))
    } catch (err) {
      if (isDuplicate(err)) return null
      throw err
    }
  }

  async byId (id: number): Promise<UserView | null> {
    const row = await this.#prisma.user.findUnique({ where: { id }, select: VIEW })
    return row ? view(row) : null
  }

  /** The user and the stored password hash, by normalized email. */
  async credentials (email: string): Promise<{ user: UserView, passwordHash: string } | null> {
    const row = await this.#prisma.user.findUnique({ where: { email }, select: { ...VIEW, passwordHash: true } })
    return row ? { user: view(row), passwordHash: row.passwordHash } : null
  }
}
