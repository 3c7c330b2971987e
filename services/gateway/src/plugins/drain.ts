import fp from 'fastify-plugin'

/**
 * While the gateway closes, requests already in flight still get their answers, and each answer
 * closes its connection: a keep-alive connection that goes idle after close() began would otherwise
 * hold the server open until its keep-alive timeout.
 */
export default fp(async (app) => {
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })
}, { name: 'drain' })
