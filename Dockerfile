# Strata broker image: builds the TypeScript once, ships only the runtime dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production STRATA_HOST=0.0.0.0 STRATA_DATA_DIR=/data
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY src/console ./src/console
VOLUME ["/data"]
EXPOSE 8082
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:8082/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# SIGTERM flushes and checkpoints every partition before exit.
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js", "serve"]
