"""The drawing board's HTTP API and page (FastAPI; interactive API docs at /docs).

Every error the client causes is a 4xx with a JSON body {"error": "..."}; uploads are capped
at 2 MB (413) and images at 4096x4096 pixels (400) before they are decoded. A prediction the
server cannot make (its worker process stopped) is a 503 with the same body.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from digitlab.errors import DigitlabError, UploadTooLarge
from digitlab.web.board import Board, CannotServe, NoSuchVersion
from digitlab.web.protocol import MAX_UPLOAD_BYTES, check_upload_size, decode_data_url
from digitlab.web.workers import PredictionFailed

STATIC = Path(__file__).parent / "static"


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024  # the image plus form fields or base64 overhead headroom
DRAIN_BYTES = 16 * 1024 * 1024                 # read (and drop) this much of an oversize body: the client sees the 413


async def _capped_body(request: Request) -> tuple[bytes, Request]:
    """The request body, holding at most MAX_BODY_BYTES in memory (larger bodies end in a 413), and a
    request that can read that body again (for form parsing)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
        elif size > DRAIN_BYTES:
            break
    if size > MAX_BODY_BYTES:
        raise ApiError(413, f"upload larger than {MAX_UPLOAD_BYTES:,} bytes")
    body = b"".join(chunks)

    async def replay() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    return body, Request(request.scope, receive=replay)


async def _image_and_fields(request: Request, check_fields=None) -> tuple[bytes, dict]:
    """The uploaded image and other fields, from multipart/form-data (field `file`) or JSON (`image`: data URL).

    `check_fields` validates the other fields first, so a bad label is reported before the image is decoded.
    """
    body, request = await _capped_body(request)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "multipart upload needs a 'file' field with the image")
        fields = {k: v for k, v in form.items() if k != "file"}
        if check_fields:
            check_fields(fields)
        image = await upload.read()
        check_upload_size(len(image))
        return image, fields
    try:
        data = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(data, dict) or "image" not in data:
        raise ApiError(400, "expected a JSON object with an 'image' data URL, or a multipart 'file' upload")
    fields = {k: v for k, v in data.items() if k != "image"}
    if check_fields:
        check_fields(fields)
    return decode_data_url(data["image"]), fields


def _label(fields: dict) -> int:
    value = fields.get("label")
    try:
        label = int(value)
        if str(value).strip() != str(label) or not 0 <= label <= 9:
            raise ValueError
    except (TypeError, ValueError):
        raise ApiError(400, f"label must be a digit 0-9, not {value!r}") from None
    return label


def _flag(fields: dict, name: str) -> bool:
    """An optional true/false field (JSON true/false, or "true"/"false"/"1"/"0" in a form)."""
    value = fields.get(name, False)
    if isinstance(value, str):
        value = {"true": True, "1": True, "false": False, "0": False}.get(value.strip().lower(), value)
    if not isinstance(value, bool):
        raise ApiError(400, f"{name} must be true or false, not {value!r}")
    return value


def _target_version(body: bytes) -> int | None:
    """The `version` a rollback asks for; none (an empty body or {}) means the serving version's parent."""
    try:
        data = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "body is not valid JSON") from None
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not (version is None or type(version) is int):  # bool is an int: not this one
        raise ApiError(400, "expected {} or {\"version\": N} with N a version number")
    return version


def create_app(board: Board, token: str | None = None) -> FastAPI:
    """The app; with a `token`, the endpoints that change the model require `Authorization: Bearer <token>`."""
    app = FastAPI(title="digitlab drawing board", version="1",
                  description="Draw a digit, see what the model thinks, correct it.")
    _answer_errors_as_json(app)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_reading(app, board)
    _add_samples(app, board)
    _add_model(app, board, token)
    return app


def _answer_errors_as_json(app: FastAPI) -> None:
    """Every error a client causes as a 4xx with {"error": ...}; a worker that died while answering, a 503."""
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(DigitlabError)
    async def digitlab_error(_: Request, exc: DigitlabError):
        return JSONResponse({"error": str(exc)}, status_code=413 if isinstance(exc, UploadTooLarge) else 400)

    @app.exception_handler(PredictionFailed)
    async def prediction_failed(_: Request, exc: PredictionFailed):
        return JSONResponse({"error": f"no prediction: {exc}"}, status_code=503)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError):
        return JSONResponse({"error": "invalid request", "detail": exc.errors()}, status_code=422)


def _add_reading(app: FastAPI, board: Board) -> None:
    """What the model makes of a drawing: one digit, a whole number, and why."""
    service = board.service

    @app.post("/api/predict", summary="Classify a drawing (multipart 'file', or JSON {'image': data URL})")
    async def predict(request: Request):
        image, _ = await _image_and_fields(request)
        return Response(await service.predict(image), media_type="application/json")  # JSON already

    @app.post("/api/read", summary="Read the numbers in a drawing or photo, line by line: text, lines, numbers, "
                                    "each character's box and guess ('digits_only': true reads no signs)")
    async def read(request: Request):
        image, fields = await _image_and_fields(request)
        return await run_in_threadpool(service.read, image, not _flag(fields, "digits_only"))

    @app.post("/api/explain", summary="Why the model reads a drawing so: Grad-CAM heat, feature maps (PNG data URLs)")
    async def explain(request: Request):
        image, _ = await _image_and_fields(request)
        return await run_in_threadpool(service.explain, image)


def _add_samples(app: FastAPI, board: Board) -> None:
    """The drawings people corrected, stored for fine-tuning."""
    service, store = board.service, board.store

    @app.post("/api/samples", summary="Store a drawing with its correct label (0-9) for fine-tuning")
    async def add_sample(request: Request):
        image, fields = await _image_and_fields(request, check_fields=_label)
        label = _label(fields)
        input28 = await run_in_threadpool(service.input28, image)
        sample_id = await run_in_threadpool(store.add, label, image, input28, service.info.version)
        return {"id": sample_id, "label": label, "total": sum(store.counts())}

    @app.get("/api/samples", summary="Stored samples: count per label and the most recent ones")
    async def list_samples(limit: int = 20):
        counts = store.counts()
        return {"counts": counts, "total": sum(counts), "recent": store.recent(max(1, min(limit, 200)))}


def _add_model(app: FastAPI, board: Board, token: str | None) -> None:
    """The model versions: which serves, fine-tuning a new one, rolling back. Changes need the token, if any."""
    finetuner = board.finetuner

    def require_token(request: Request) -> None:
        if token and not secrets.compare_digest(request.headers.get("authorization", ""), f"Bearer {token}"):
            raise ApiError(401, "this endpoint needs the server's token: Authorization: Bearer <token>")

    @app.get("/api/model", summary="The model that is serving, and every version the board has")
    async def model_info():
        return board.describe()

    @app.post("/api/finetune", status_code=202, summary="Start fine-tuning on the stored samples in the background")
    async def start_finetune(request: Request):
        require_token(request)
        job = await run_in_threadpool(finetuner.start)
        return {"job": job, "state": "queued"}

    @app.get("/api/finetune/{job_id}", summary="Progress of a fine-tune job, with held-out accuracy before and after")
    async def finetune_status(job_id: int):
        status = await run_in_threadpool(finetuner.status, job_id)
        if status is None:
            raise ApiError(404, f"no fine-tune job {job_id}")
        return status

    @app.post("/api/model/rollback", summary="Serve an earlier version: {'version': N}, or by default the parent "
                                             "of the one serving")
    async def rollback(request: Request):
        require_token(request)
        body, _ = await _capped_body(request)
        try:
            await run_in_threadpool(board.serve, _target_version(body))
        except NoSuchVersion as exc:
            raise ApiError(404, str(exc)) from None
        except CannotServe as exc:
            raise ApiError(409, str(exc)) from None
        return board.describe()
