# One image for both services; compose.yaml picks the command for each.
#   docker build -t comfy-jobs .
#   docker run comfy-jobs                                                   # gateway (the default)
#   docker run comfy-jobs node --import tsx services/worker/src/server.ts   # worker
FROM node:20-slim

WORKDIR /app
# pnpm from the npm registry (corepack needs signature verification, which is not always possible).
RUN npm install -g pnpm@10 && pnpm --version

COPY . .
# The same preparation as `npm start`: `pnpm install --frozen-lockfile` (install scripts stay off:
# pnpm-workspace.yaml has onlyBuiltDependencies: []) and the Prisma client generated into
# packages/db/src/generated. There is no build step: the TypeScript sources run through tsx.
RUN node scripts/prepare.mjs --generate

ENV HOST=0.0.0.0 \
    WORKER_GRPC_HOST=0.0.0.0 \
    OUTPUT_DIR=/app/data/outputs
EXPOSE 5000 50051
CMD ["node", "--import", "tsx", "services/gateway/src/server.ts"]
