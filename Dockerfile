# Strata broker image: builds the TypeScript once, ships only the runtime dependencies, and runs
# as the unprivileged `node` user (uid 1000) that owns the data directory.
#
#   docker build -t strata .
#   docker run -p 8082:8082 -v strata-data:/data strata
#
# Options are STRATA_* variables (or flags after `serve`); see `docker run strata serve --help`.
# Set the port with STRATA_PORT, not --port: the HEALTHCHECK reads it.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The lockfile lists every platform's optional packages, so `npm ci` installs exactly it.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS runtime-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
WORKDIR /app
# STRATA_INSECURE: the broker listens on every interface of the container without credentials,
# which it refuses unless told so. Put the container on a network you trust, or turn auth on:
#   -e STRATA_AUTH=true -e STRATA_ADMIN_PASSWORD=… (then STRATA_INSECURE is not needed)
# and TLS with -e STRATA_TLS_CERT_FILE=/certs/tls.crt -e STRATA_TLS_KEY_FILE=/certs/tls.key.
ENV NODE_ENV=production \
    STRATA_HOST=0.0.0.0 \
    STRATA_PORT=8082 \
    STRATA_DATA_DIR=/data \
    STRATA_INSECURE=true
COPY --from=runtime-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY src/console ./src/console
COPY docker/healthcheck.js ./docker/healthcheck.js
# Created here so that a new named volume starts owned by `node` (Docker copies the ownership).
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8082
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "docker/healthcheck.js"]
# SIGTERM flushes and checkpoints every partition before exit; SIGHUP reloads the TLS certificate.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["serve"]
