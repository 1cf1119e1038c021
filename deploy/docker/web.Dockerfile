# syntax=docker/dockerfile:1
# The web client's image: services/web built by Vite, served by nginx (services/web/image/nginx.conf)
# as the local gateway serves it. Built from the repository root:
#   docker build -f deploy/docker/web.Dockerfile -t instantpost/web .
# Its build context is web.Dockerfile.dockerignore (BuildKit reads it for this Dockerfile alone).

ARG NODE_IMAGE=node:24-bookworm-slim
ARG NGINX_IMAGE=nginxinc/nginx-unprivileged:1.28.0-alpine

# Every workspace's package.json is in the context (npm ci checks the lock against them all); only the
# web client's dependencies are installed, its devDependencies (Vite, TypeScript) included.
FROM ${NODE_IMAGE} AS build
WORKDIR /repo
COPY . .
RUN --mount=type=cache,target=/root/.npm \
  npm ci --workspace services/web --include-workspace-root=false --no-audit --no-fund \
  && npm run build --workspace services/web

# The static files and nginx, nothing else: no Node, no sources. nginx-unprivileged runs as UID 101 and
# listens on 8080; the config keeps its scratch files in /tmp, so the root filesystem can be read-only.
FROM ${NGINX_IMAGE} AS runtime
COPY services/web/image/nginx.conf /etc/nginx/nginx.conf
COPY --from=build /repo/services/web/dist /usr/share/nginx/html
EXPOSE 8080
USER 101:101
CMD ["nginx", "-g", "daemon off;"]
