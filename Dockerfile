# syntax=docker/dockerfile:1
# ownergraph: one image for the server, migrations and the CLI.
#   docker build -t ownergraph .
#   docker run --rm -e OWNERGRAPH_DATABASE_URL=... ownergraph ownergraph migrate
#   docker run -p 8000:8000 -e OWNERGRAPH_DATABASE_URL=... -e OWNERGRAPH_JWT_SECRET=... ownergraph
# GraphiQL's browser files, from the npm registry, pinned by web/graphiql/package-lock.json.
FROM node:20-slim AS graphiql
WORKDIR /web
COPY web/graphiql/package.json web/graphiql/package-lock.json ./
RUN npm ci --no-audit --no-fund

# The dashboard's libraries, pinned by web/dashboard/package-lock.json.
FROM node:20-slim AS dashboard
WORKDIR /web
COPY web/dashboard/package.json web/dashboard/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    OWNERGRAPH_DATA_DIR=/var/lib/ownergraph \
    OWNERGRAPH_LOG_FORMAT=json \
    # uvicorn trusts X-Forwarded-* from the proxy in front (compose.yaml's nginx).
    FORWARDED_ALLOW_IPS=*

RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin ownergraph \
 && install -d -o ownergraph -g ownergraph /var/lib/ownergraph

WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -m venv /opt/venv && pip install . && pip uninstall -y ownergraph
# The code, installed in place: policy.csv and model.conf sit beside the packages.
COPY model.conf policy.csv alembic.ini ./
COPY kernel kernel
COPY db db
COPY authz authz
COPY subscriptions subscriptions
COPY resolvers resolvers
COPY schema schema
COPY ownergraph ownergraph
# Only the four files ownergraph/graphiql.py serves.
COPY --from=graphiql /web/node_modules/react/umd/react.production.min.js web/graphiql/node_modules/react/umd/
COPY --from=graphiql /web/node_modules/react-dom/umd/react-dom.production.min.js web/graphiql/node_modules/react-dom/umd/
COPY --from=graphiql /web/node_modules/graphiql/graphiql.min.js /web/node_modules/graphiql/graphiql.min.css web/graphiql/node_modules/graphiql/
# The dashboard's own page and modules, and only the three files ownergraph/dashboard.py serves.
COPY web/dashboard/app web/dashboard/app
COPY --from=dashboard /web/node_modules/graphql-ws/umd/graphql-ws.min.js web/dashboard/node_modules/graphql-ws/umd/
COPY --from=dashboard /web/node_modules/uplot/dist/uPlot.iife.min.js /web/node_modules/uplot/dist/uPlot.min.css web/dashboard/node_modules/uplot/dist/
RUN pip install --no-deps -e . && python -m compileall -q kernel db authz subscriptions resolvers schema ownergraph

USER ownergraph
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["ownergraph", "serve", "--host", "0.0.0.0", "--port", "8000"]
