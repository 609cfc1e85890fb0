# One image with every edgefleet entry point: cloudcore, edgecore, edgefleet-sim, edgefleet-load.
# Build:  docker build -t edgefleet:dev .
# Run:    docker run edgefleet:dev cloudcore --help

# ---- build: compile TypeScript and the native addons once, for the runtime's Node ABI and glibc
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY types ./types
COPY protocol ./protocol
COPY cloudcore ./cloudcore
COPY edgecore ./edgecore
COPY simulator ./simulator
COPY loadtest ./loadtest
COPY scripts ./scripts
RUN npm run build && npm prune --omit=dev

# ---- runtime: same base as the build stage (the addons link against its glibc), non-root
FROM node:20-bookworm-slim
# iptables: `cloudcore iptables-manager` (the chart's DaemonSet beside the apiserver).
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /opt/edgefleet
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
RUN ln -s /opt/edgefleet/dist/cloudcore/main.js /usr/local/bin/cloudcore \
 && ln -s /opt/edgefleet/dist/edgecore/main.js /usr/local/bin/edgecore \
 && ln -s /opt/edgefleet/dist/simulator/main.js /usr/local/bin/edgefleet-sim \
 && ln -s /opt/edgefleet/dist/loadtest/main.js /usr/local/bin/edgefleet-load \
 && chmod +x dist/cloudcore/main.js dist/edgecore/main.js dist/simulator/main.js dist/loadtest/main.js
USER node
ENTRYPOINT []
CMD ["cloudcore", "--help"]
