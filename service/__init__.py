"""couchrec's HTTP service: log ingestion and analytics answered from CouchDB views."""

from __future__ import annotations

from flask import Flask

from loader.couchdb.couch import Couch
from loader.couchdb.viewcache import ViewCache
from loader.pages.pagesummaries import SummaryReader
from loader.recommendations.neighbours import ListReader, lists_db
from loader.settings import Settings
from loader.tuning.tuned import TunedSettings
from service.jsonio import OrjsonProvider
from service.params import AnyText


def create_app(settings: Settings | None = None) -> Flask:
    """Create the Flask app; settings come from the environment unless given."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json = OrjsonProvider(app)
    app.url_map.converters["text"] = AnyText

    from service import access, deadline, errors, health, ingest, logs, metrics, pages, products, recommendations, stats

    couch = Couch(settings.couchdb_url, settings.db, timeout=settings.timeout, observe=metrics.observe_couchdb)
    app.extensions["couchrec"] = {
        "settings": settings,
        "couch": couch,
        "views": ViewCache(couch, update=settings.view_update, max_age=settings.cache_seconds,
                           observe=metrics.observe_cache),
        "lists": ListReader(lists_db(couch)),
        "summaries": SummaryReader(couch),
        "tuning": TunedSettings(couch, dict(settings.recommend_overrides), ttl=settings.tuning_seconds),
        "ddocs": None,  # compiled for the server on first use (get_ddocs): it may be down now
    }
    logs.init_app(app)  # first: every request gets its id and start time before anything can refuse it
    deadline.init_app(app, settings.timeout)
    metrics.init_app(app)
    errors.init_app(app)
    access.init_app(app, settings.cors_origins)
    app.extensions["couchrec"]["tuning"].current()  # read the stored tuning now, if the database answers
    for module in (pages, health, ingest, stats, recommendations, products):
        app.register_blueprint(module.bp)
    return app
