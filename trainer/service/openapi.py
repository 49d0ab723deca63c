"""The service's OpenAPI document: every endpoint, and each template's parameters as its request schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainer.jobs import JobStatus

from .templates import Template

__all__ = ["openapi_document"]

_ERROR = {
    "type": "object",
    "required": ["error", "details"],
    "properties": {
        "error": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": ["string", "null"]}, "reason": {"type": "string"}},
            },
        },
    },
}

_JOB = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "template": {"type": "string"},
        "params": {"type": "object"},
        "status": {"enum": [status.value for status in JobStatus]},
        "attempts": {"type": "integer"},
        "epoch": {"type": ["integer", "null"]},
        "epochs": {"type": ["integer", "null"]},
        "logs": {"type": "object"},
        "error": {"type": ["string", "null"]},
        "submitted_at": {"type": "number"},
        "started_at": {"type": ["number", "null"]},
        "finished_at": {"type": ["number", "null"]},
        "worker": {"type": ["object", "null"]},
        "backup": {"type": "boolean"},
    },
}


def _json(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": dict(schema)}}}


def _answers(ok: int, schema: Mapping[str, Any], description: str, *errors: int) -> dict[str, Any]:
    answers: dict[str, Any] = {str(ok): {"description": description, **_json(schema)}}
    error = {"description": "refused", **_json({"$ref": "#/components/schemas/Error"})}
    answers.update({str(status): error for status in (401, *errors)})
    return answers


_JOB_ID = [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}]
_EVENTS = {"200": {"description": "Server-Sent Events", "content": {"text/event-stream": {"schema": {"type": "string"}}}}}
_LAST_EVENT_ID = {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}}


def openapi_document(templates: Mapping[str, Template]) -> dict[str, Any]:
    """The document ``GET /openapi.json`` answers."""
    job = {"$ref": "#/components/schemas/Job"}
    requests = []
    components: dict[str, Any] = {"Error": _ERROR, "Job": _JOB}
    for template in templates.values():
        params_name = template.params.__name__
        schema = template.params.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[params_name] = schema
        request_name = f"{params_name.removesuffix('Params')}JobRequest"
        components[request_name] = {
            "type": "object",
            "additionalProperties": False,
            "required": ["template"],
            "properties": {
                "template": {"const": template.name},
                "params": {"$ref": f"#/components/schemas/{params_name}"},
                "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 200},
            },
        }
        requests.append({"$ref": f"#/components/schemas/{request_name}"})
    paths = {
        "/health": {"get": {"summary": "Whether the service answers (no token needed)", "security": [],
                            "responses": {"200": {"description": "ok", **_json({"type": "object"})}}}},
        "/login": {"post": {"summary": "Set the dashboard's session cookie", "security": [],
                            "requestBody": {"required": True, **_json({"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}})},
                            "responses": _answers(200, {"type": "object"}, "logged in", 415, 422)}},
        "/logout": {"post": {"summary": "Clear the session cookie", "responses": _answers(200, {"type": "object"}, "logged out")}},
        "/templates": {"get": {"summary": "The job templates and their parameters' schemas",
                               "responses": _answers(200, {"type": "object"}, "the templates")}},
        "/jobs": {
            "post": {"summary": "Submit a job from a template", "requestBody": {"required": True, **_json({"oneOf": requests})},
                     "responses": _answers(201, job, "the job, queued", 413, 415, 422, 429)},
            "get": {"summary": "Every job, in submission order",
                    "parameters": [{"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                                   {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
                    "responses": _answers(200, {"type": "object"}, "the jobs", 422)},
        },
        "/jobs/{job_id}": {
            "get": {"summary": "One job", "parameters": _JOB_ID, "responses": _answers(200, job, "the job", 404)},
            "delete": {"summary": "Cancel a job (its backup is kept)", "parameters": _JOB_ID,
                       "responses": _answers(200, job, "the job, cancelled", 404, 409)},
        },
        "/jobs/{job_id}/resume": {"post": {"summary": "Resume a cancelled or failed job from its backup", "parameters": _JOB_ID,
                                           "responses": _answers(202, job, "the job, queued again", 404, 409, 429)}},
        "/jobs/{job_id}/events": {"get": {
            "summary": "The job's events as Server-Sent Events: stored ones after Last-Event-ID, then live ones",
            "parameters": [*_JOB_ID, _LAST_EVENT_ID, {"name": "level", "in": "query", "schema": {"enum": ["epoch", "batch"]}}],
            "responses": {**_answers(200, {}, "", 404, 422), **_EVENTS}}},
        "/events": {"get": {"summary": "Every job's epoch-level events as Server-Sent Events", "parameters": [_LAST_EVENT_ID],
                            "responses": {**_answers(200, {}, "", 422), **_EVENTS}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": _answers(200, {"type": "object"}, "the document")}},
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {"title": "trainer service", "version": _version()},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"token": []}],
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("eventbus-trainer")
    except PackageNotFoundError:
        return "0"
