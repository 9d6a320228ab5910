"""Access to the app's CouchDB client and settings from request handlers."""

from __future__ import annotations

from flask import current_app

from loader.couchdb.couch import Couch
from loader.couchdb.viewcache import RevalidateOnFirstQuery, ViewCache
from loader.designdocs.deploy import compile_for
from loader.pages.pagesummaries import SummaryReader
from loader.recommendations.neighbours import ListReader
from loader.settings import Settings
from loader.tuning.tuned import RecommendSettings, TunedSettings


def get_couch() -> Couch:
    return current_app.extensions["couchrec"]["couch"]


def get_views() -> ViewCache:
    """The cached view reader, revalidated for this request."""
    views = current_app.extensions["couchrec"]["views"]
    views.revalidate()
    return views


def get_views_when_asked() -> RevalidateOnFirstQuery:
    """The cached view reader, revalidated only when this request first queries a view."""
    return RevalidateOnFirstQuery(current_app.extensions["couchrec"]["views"])


def get_lists() -> ListReader:
    """The reader of the stored neighbour lists (loader/recommendations/neighbours.py)."""
    return current_app.extensions["couchrec"]["lists"]


def get_summaries() -> SummaryReader:
    """The reader of the stored page-time summaries (loader/pages/pagesummaries.py)."""
    return current_app.extensions["couchrec"]["summaries"]


def get_settings() -> Settings:
    return current_app.extensions["couchrec"]["settings"]


def get_tuning() -> TunedSettings:
    """The recommendation settings in force: stored by `couchrec tune`, overridden by the environment."""
    return current_app.extensions["couchrec"]["tuning"]


def get_recommend_settings() -> RecommendSettings:
    return get_tuning().current()


def get_ddocs() -> dict[str, dict]:
    """The design documents this code expects the database to hold, compiled for its server
    (asked once; raises CouchUnavailable while the server is down)."""
    state = current_app.extensions["couchrec"]
    if state["ddocs"] is None:
        state["ddocs"] = compile_for(state["couch"])
    return state["ddocs"]
