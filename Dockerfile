# syntax=docker/dockerfile:1
# Build stage: compile TypeScript with the dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies only, non-root.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY appsettings.json ./
COPY config ./config
RUN mkdir -p /app/data && chown node:node /app/data
USER node
# Inside a container the proxy must listen on 0.0.0.0 to be reachable, which stickyport refuses
# without client authentication. Mount a config that turns Authentication on (see
# config/public-with-auth.json) or, for a private network only, sets
# Listen.AllowUnauthenticatedPublic: docker run -v $PWD/my.json:/app/my.json ... --config my.json
EXPOSE 10201-10300
VOLUME ["/app/data"]
ENTRYPOINT ["node", "dist/main.js"]
