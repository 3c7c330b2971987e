# Production images of comfy-jobs, two targets sharing every layer but the last:
#   docker build -t comfy-jobs-gateway .                    # the gateway (the default target)
#   docker build --target worker -t comfy-jobs-worker .     # the worker
# compose.yaml builds both. docs/deploying.md says how to run them. test/deployment.test.ts checks this
# file against the services' configuration (ports, paths, the runtime stage's user and health check).
ARG NODE_IMAGE=node:20-slim

# --- build: every dependency (dev included), the Prisma client generated, everything compiled to dist/
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# pnpm from the npm registry (corepack needs signature verification, which is not always possible).
RUN npm install -g pnpm@10 && pnpm --version
COPY . .
# The same preparation as `npm start`: `pnpm install --frozen-lockfile` (install scripts stay off:
# pnpm-workspace.yaml has onlyBuiltDependencies: []) and the Prisma client generated into
# packages/db/src/generated; then `npm run build`: every service and package compiled to its dist/ (tsc -b).
RUN node scripts/prepare.mjs --generate && npm run build

# --- production dependencies only: the workspace's manifests and lockfile, `pnpm install --prod`
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
RUN npm install -g pnpm@10 && pnpm --version
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY services/gateway/package.json services/gateway/
COPY services/worker/package.json services/worker/
COPY packages/cli/package.json packages/cli/
COPY packages/contracts/package.json packages/contracts/
COPY packages/db/package.json packages/db/
COPY packages/media/package.json packages/media/
COPY packages/rpc/package.json packages/rpc/
RUN pnpm install --prod --frozen-lockfile --config.confirmModulesPurge=false

# --- runtime: production dependencies, the compiled build and the files it reads; no compiler, no pnpm
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
# Everything the process runs is root's and read-only to it; only data/ is the service user's.
COPY --from=prod-deps /app ./
COPY --from=build /app/packages/contracts/dist packages/contracts/dist
COPY --from=build /app/packages/db/dist packages/db/dist
COPY --from=build /app/packages/media/dist packages/media/dist
COPY --from=build /app/packages/rpc/dist packages/rpc/dist
COPY --from=build /app/services/gateway/dist services/gateway/dist
COPY --from=build /app/services/worker/dist services/worker/dist
# read at run time beside the compiled code: the gRPC contract, the migrations (applied at the
# gateway's start), the web page, the shipped workflow templates
COPY --from=build /app/proto proto
COPY --from=build /app/prisma/migrations prisma/migrations
COPY --from=build /app/services/gateway/public services/gateway/public
COPY --from=build /app/services/worker/workflows services/worker/workflows
# the `comfy-jobs` command line (API keys: `node --conditions=comfy-jobs-compiled packages/cli/bin/comfy-jobs.mjs
# keys create …`); tsx runs its TypeScript, and the condition makes it use the compiled packages
COPY --from=build /app/packages/cli/bin packages/cli/bin
COPY --from=build /app/packages/cli/src packages/cli/src
# The volumes' mount points, owned by the service user so that a new named volume is too.
RUN mkdir -p data/outputs data/uploads data/workflows && chown -R node:node data
USER node

# --- the worker: gRPC on WORKER_GRPC_PORT, health from its gRPC health service
FROM runtime AS worker
ENV WORKER_GRPC_HOST=0.0.0.0 \
    WORKER_GRPC_PORT=50051 \
    WORKFLOWS_DIR=/app/data/workflows
EXPOSE 50051
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "--conditions=comfy-jobs-compiled", "services/worker/dist/healthcheck.js"]
CMD ["node", "--conditions=comfy-jobs-compiled", "services/worker/dist/server.js"]

# --- the gateway (the default target): HTTP on PORT, the gRPC API on GATEWAY_GRPC_PORT
FROM runtime AS gateway
ENV HOST=0.0.0.0 \
    PORT=5000 \
    GATEWAY_GRPC_HOST=0.0.0.0 \
    GATEWAY_GRPC_PORT=50052 \
    OUTPUT_DIR=/app/data/outputs \
    UPLOAD_DIR=/app/data/uploads
EXPOSE 5000 50052
# /ready: 200 while this gateway takes submits (Redis and the database answer, the queue has room)
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 5000) + '/ready').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--conditions=comfy-jobs-compiled", "services/gateway/dist/server.js"]
