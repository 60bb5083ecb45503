# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""A bad input's error that a web server (MONAI Label) answers with its message instead of "Internal Server Error"."""

from __future__ import annotations

import functools
import sys

__all__ = ["INPUT_ERROR_STATUS", "input_error"]

#: the HTTP status a served bad input gets: 422 Unprocessable Content (the request was understood, the file is bad)
INPUT_ERROR_STATUS = 422


@functools.lru_cache(maxsize=None)
def _served_class(error_type: type, http_exception: type) -> type:
    return type(error_type.__name__, (error_type, http_exception),
                {"__module__": error_type.__module__, "__qualname__": error_type.__qualname__})


def input_error(error: Exception) -> Exception:
    """
    ``error`` (the clear message of a bad input file: truncated, corrupt, NaN, wrong dimensions), returned as it is —
    except in a process that serves HTTP with Starlette (MONAI Label's server), where it is returned as an instance of
    a subclass of both its own type and ``starlette.exceptions.HTTPException`` (status :data:`INPUT_ERROR_STATUS`,
    ``detail`` = the message). MONAI Label calls the bundle's transforms one by one and has no handler of its own for
    their errors, so its ``/infer`` answered a corrupt study with ``500 Internal Server Error`` and no reason; with
    this, FastAPI answers ``422 {"detail": "cannot read 'image' file .../study.nii.gz (truncated or corrupt?): ..."}``
    and the server goes on serving.

    The returned error is still an ``OSError`` / ``ValueError`` / ... (``except`` clauses and tests see no difference)
    and prints with the same type name. Nothing is imported: Starlette is used only if already loaded.
    """
    module = sys.modules.get("starlette.exceptions")
    http_exception = getattr(module, "HTTPException", None)
    if http_exception is None or isinstance(error, http_exception):
        return error
    served = _served_class(type(error), http_exception)(*error.args)
    served.status_code, served.detail, served.headers = INPUT_ERROR_STATUS, str(error), None
    served.__cause__ = error.__cause__
    return served
