# syntax=docker/dockerfile:1.7
# A team's worker image built in its own repository, with switchyard and @switchyard/worker
# installed from the registry as dependencies of its package.json (infra/README.md, "Your
# handlers in our image"). Its build puts the compiled handlers in dist/ and the YAML templates
# in templates/.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci && npm cache clean --force
COPY . .
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM to node and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini=0.19.* \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY templates ./templates
USER node
ENV SWITCHYARD_HANDLER_MODULES=/app/dist/handlers.js \
    SWITCHYARD_TEMPLATE_PATHS=/app/templates
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/node_modules/switchyard/dist/main.js"]
CMD ["worker"]
