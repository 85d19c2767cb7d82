"""OpenAPI request bodies for the routes that read their own body.

Uploads are streamed to disk by :func:`app.services.transcription.upload.receive_form`, so those
routes declare no body parameters and FastAPI documents no request body for them. Their
``openapi_extra`` instead names a schema published here: :func:`body_schema` builds it from the
pydantic models that validate the fields, and :func:`install_openapi` adds it, with every enum
and model it refers to, to the served document's ``components/schemas``. All ``$ref``s then
point into the document (a model's own ``model_json_schema`` would carry local ``$defs``, which
do not resolve from inside an OpenAPI operation).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

_REF = "#/components/schemas/{model}"
_published: dict[str, dict[str, Any]] = {}

#: the ``file`` part of a multipart upload
AUDIO_FILE: dict[str, Any] = {"type": "string", "format": "binary", "description": "the audio file"}


def _publish(name: str, schema: dict[str, Any], into: dict[str, Any]) -> None:
    if into.setdefault(name, schema) != schema:
        raise ValueError(f"two different OpenAPI schemas are named {name!r}")


def body_schema(
    name: str,
    *models: type[BaseModel],
    description: str,
    required: Collection[str] = (),
    drop: Collection[str] = (),
    add: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, str]:
    """Publish an object schema ``name`` with the fields of ``models`` (less ``drop``, plus
    ``add``; no others allowed) and return a ``$ref`` to it."""
    refs, top = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    definitions: dict[str, Any] = top.get("$defs", {})
    properties: dict[str, Any] = {}
    for ref in refs.values():
        properties.update(definitions.pop(ref["$ref"].rsplit("/", 1)[1])["properties"])
    for field in drop:
        del properties[field]
    properties.update(add or {})
    for nested, schema in definitions.items():  # enums and models the fields refer to
        _publish(nested, schema, _published)
    schema = {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": [field for field in properties if field in required],
        "additionalProperties": False,
    }
    _publish(name, schema, _published)
    return {"$ref": _REF.format(model=name)}


def install_openapi(app: FastAPI) -> None:
    """Serve the schemas :func:`body_schema` published with FastAPI's generated document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:  # generated once, then cached by FastAPI
            return app.openapi_schema
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in _published.items():
            _publish(name, schema, schemas)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
