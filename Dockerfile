# The couchrec service (and its CLI, used by the one-shot design-doc job).
# The dashboard's front-end libraries, from web/package-lock.json.
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim
WORKDIR /app
COPY --from=web /web/node_modules ./web/node_modules
COPY pyproject.toml README.md ./
COPY loader ./loader
COPY service ./service
COPY designdocs ./designdocs
# Editable, so the CLI finds designdocs/ beside the code.
RUN pip install --no-cache-dir -e . && useradd --system couchrec
USER couchrec
EXPOSE 8000
# The command the tests' live service runs (loader/devtools/live.py): gunicorn with service/gunicorn_conf.py
# (gthread workers, JSON logs, the multiprocess metrics folder). Inside the container it listens on all
# interfaces; compose publishes it on 127.0.0.1 only.
CMD ["couchrec", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
