"""Operations: liveness, readiness (naming the dependency that is down), the OpenAPI document."""

from __future__ import annotations

import logging
from functools import cached_property

import falcon

from bazaar.entry.http import answers
from bazaar.entry.http.endpoint import endpoint
from bazaar.entry.http.openapi import document
from bazaar.infra import db

log = logging.getLogger("bazaar.ready")


class Health:
    @endpoint("Liveness", answer=answers.Health, uses_dependencies=False)
    def on_get(self, req, resp):
        resp.media = {"status": "ok"}


class Ready:
    """Checks each dependency in turn; 503 names every one that is not reachable."""

    def __init__(self, checks: dict):
        self.checks = checks  # name → callable raising when unreachable

    @endpoint("Readiness of database, Redis and search (503 names what is down)", answer=answers.Ready)
    def on_get(self, req, resp):
        results, down = {}, []
        for name, check in self.checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:  # any failure means "not ready"; the reason goes to the log
                log.warning("readiness check %s failed: %s", name, exc)
                if name == "database":
                    db.discard_broken_connection()
                results[name] = "unavailable"
                down.append(name)
        if down:
            resp.status = falcon.HTTP_503
            resp.media = {
                "success": False,
                "status": "unavailable",
                "error": "dependency_unavailable",
                "message": f"Not ready: {', '.join(down)} unavailable",
                "checks": results,
            }
        else:
            resp.media = {"success": True, "status": "ready", "checks": results}


class OpenApi:
    def __init__(self, routes: list):
        self.routes = routes  # the route table this document describes, itself included

    @cached_property
    def doc(self) -> dict:
        return document(self.routes)

    @endpoint("This document", answer=dict, uses_dependencies=False)
    def on_get(self, req, resp):
        resp.media = self.doc
