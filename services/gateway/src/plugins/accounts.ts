import fp from 'fastify-plugin'
import { PasswordHasher } from '../accounts/password-hash.ts'
import { UserStore } from '../accounts/user-store.ts'
import { SessionStore } from '../accounts/session-store.ts'
import { LoginLimiter } from '../accounts/login-limiter.ts'

/** Accounts: users (database), their login sessions and login attempt counts (Redis), password hashing. */
export interface Accounts {
  users: UserStore
  sessions: SessionStore
  logins: LoginLimiter
  passwords: PasswordHasher
}

declare module 'fastify' {
  interface FastifyInstance {
    accounts: Accounts
  }
}

export default fp(async (app) => {
  const { config } = app
  app.decorate('accounts', {
    users: new UserStore(app.prisma),
    sessions: new SessionStore(app.redis, config.queueName, config.sessionTtlSeconds),
    logins: new LoginLimiter(app.redis, config.queueName, { perEmail: config.loginMaxAttemptsPerEmail, perIp: config.loginMaxAttemptsPerIp, windowSeconds: config.loginWindowSeconds }),
    passwords: new PasswordHasher(config.passwordScryptLogN)
  })
}, { name: 'accounts', dependencies: ['config', 'prisma', 'redis'] })
