# sluice daemon image. Build: docker build -t sluice .
FROM node:20.19-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY connectors ./connectors
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20.19-bookworm-slim
WORKDIR /app
# 0.0.0.0 on plain HTTP is refused at start: mount a certificate (SLUICE_API_TLS_CERT/KEY), or set
# SLUICE_API_INSECURE=true when a proxy or mesh in front terminates TLS (README, "HTTPS").
ENV NODE_ENV=production SLUICE_DATA_DIR=/var/lib/sluice SLUICE_API_HOST=0.0.0.0 SLUICE_LOG_PRETTY=false
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config ./config
RUN mkdir -p /var/lib/sluice && chown node:node /var/lib/sluice
USER node
VOLUME /var/lib/sluice
EXPOSE 8278
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD node -e "fetch('http://127.0.0.1:8278/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["start"]
