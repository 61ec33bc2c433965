# syntax=docker/dockerfile:1
# Build stage: compile TypeScript with the dev dependencies, then pack the npm package, so that
# the image holds exactly what `npm install ./stickyport-*.tgz` would (package.json "files").
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json appsettings.json README.md ./
COPY src ./src
COPY config ./config
# prepack builds dist/ from a clean folder.
RUN npm pack --pack-destination /tmp \
  && mkdir /package \
  && tar -xzf /tmp/stickyport-*.tgz -C /package --strip-components=1

# Runtime stage: the unpacked package, production dependencies from the lock file, non-root.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /package ./
COPY package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
RUN mkdir -p /app/data && chown node:node /app/data
USER node
# Inside a container the proxy must listen on 0.0.0.0 to be reachable, which stickyport refuses
# without client authentication. Mount a config that turns Authentication on (see
# config/public-with-auth.json) or, for a private network only, sets
# Listen.AllowUnauthenticatedPublic: docker run -v $PWD/my.json:/app/my.json ... --config my.json
# Flags and commands work as with npx: docker run stickyport check --config my.json
EXPOSE 10201-10300
VOLUME ["/app/data"]
# The admin server's /healthz (every port bound), reached from inside the container: the shipped
# appsettings.json turns the admin server on, on the port just below the range (10200), and
# config/public-with-auth.json keeps it on 127.0.0.1. Moved ports or admin server: docker run -e
# HEALTHCHECK_URL=http://127.0.0.1:PORT/healthz. The slim image has no curl: node asks.
ENV HEALTHCHECK_URL=http://127.0.0.1:10200/healthz
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.HEALTHCHECK_URL, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The package's bin (package.json "bin": stickyport -> dist/main.js).
ENTRYPOINT ["node", "dist/main.js"]
