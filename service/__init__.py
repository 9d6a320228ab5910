"""couchrec's HTTP service: log ingestion and analytics answered from CouchDB views."""

from __future__ import annotations

from flask import Flask

from loader.couch import Couch
from loader.designdocs import compile_all
from loader.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Create the Flask app; settings come from the environment unless given."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    app.extensions["couchrec"] = {
        "settings": settings,
        "couch": Couch(settings.couchdb_url, settings.db, timeout=settings.timeout),
        "ddocs": compile_all(),
    }

    from service import errors, health, ingest, stats

    errors.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(ingest.bp)
    app.register_blueprint(stats.bp)
    return app
