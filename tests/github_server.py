"""A local stand-in for the GitHub REST API, started by the tests on 127.0.0.1 (random port).

It speaks the endpoints model-check uses, with GitHub's payload shapes and status codes:
issue comments (list with Link-header pagination, create, update), check runs (create, update;
at most 50 annotations per request), pull requests (get, list by head, files with pagination),
401 for an unknown token, 403 "Resource not accessible by integration" for writes with a
read-only token (as fork pull requests get), 422 for a comment body over the limit. Every request
is recorded (method, path, query, JSON body, token) for the tests to assert on.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

if TYPE_CHECKING:
    from validator.core.report import Report

WRITE_TOKEN = "ghs_write_token_for_tests"
READ_TOKEN = "ghs_read_only_token_for_tests"
BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
DOCS = "https://docs.github.com/rest"
FORBIDDEN = {"message": "Resource not accessible by integration", "documentation_url": DOCS, "status": "403"}


@dataclass
class Request:
    method: str
    path: str  # without the query
    query: dict[str, str]
    body: Any
    token: str | None


@dataclass
class PullRequestState:
    number: int
    head_sha: str
    head_ref: str = "feature"
    head_repo: str = "earthcode/models"
    files: list[str] = field(default_factory=list)
    state: str = "open"


class FakeGitHub:
    def __init__(self, repository: str = "earthcode/models", comment_limit: int = 65_536) -> None:
        self.repository = repository
        self.repo_id = 4242
        self.comment_limit = comment_limit
        self.tokens = {WRITE_TOKEN: "write", READ_TOKEN: "read"}
        self.requests: list[Request] = []
        self.comments: dict[int, list[dict[str, Any]]] = {}  # issue number -> comments
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.annotations: dict[int, list[dict[str, Any]]] = {}  # check run id -> every annotation sent
        self.pulls: dict[int, PullRequestState] = {}
        self._next_id = 1000
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-github", daemon=True)

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # -- test set-up and inspection ---------------------------------------------------------------
    def add_pull(self, number: int, head_sha: str, files: list[str] | None = None, head_ref: str = "feature",
                 head_repo: str | None = None) -> PullRequestState:
        pr = PullRequestState(number, head_sha, head_ref, head_repo or self.repository, list(files or []))
        self.pulls[number] = pr
        self.comments.setdefault(number, [])
        return pr

    def add_comment(self, number: int, body: str, user: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._lock:
            comment = self._comment(number, body, user or {"login": "octocat", "id": 1, "type": "User"})
            self.comments.setdefault(number, []).append(comment)
            return comment

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]

    def clear_requests(self) -> None:
        self.requests.clear()

    # -- payloads --------------------------------------------------------------------------------
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _comment(self, number: int, body: str, user: dict[str, Any]) -> dict[str, Any]:
        cid = self._new_id()
        return {
            "id": cid,
            "node_id": f"IC_{cid}",
            "url": f"{self.url}/repos/{self.repository}/issues/comments/{cid}",
            "html_url": f"https://github.com/{self.repository}/pull/{number}#issuecomment-{cid}",
            "issue_url": f"{self.url}/repos/{self.repository}/issues/{number}",
            "body": body,
            "user": user,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "author_association": "NONE" if user.get("type") == "Bot" else "CONTRIBUTOR",
        }

    def _pull_payload(self, pr: PullRequestState) -> dict[str, Any]:
        owner = pr.head_repo.split("/")[0]
        return {
            "url": f"{self.url}/repos/{self.repository}/pulls/{pr.number}",
            "id": 900000 + pr.number,
            "number": pr.number,
            "state": pr.state,
            "title": f"Pull request {pr.number}",
            "head": {"label": f"{owner}:{pr.head_ref}", "ref": pr.head_ref, "sha": pr.head_sha,
                     "repo": {"full_name": pr.head_repo}},
            "base": {"label": f"{self.repository.split('/')[0]}:main", "ref": "main", "sha": "b" * 40,
                     "repo": {"full_name": self.repository}},
        }

    def _check_run_payload(self, run: dict[str, Any]) -> dict[str, Any]:
        rid = run["id"]
        output = run.get("output", {})
        return {
            "id": rid,
            "node_id": f"CR_{rid}",
            "head_sha": run["head_sha"],
            "external_id": "",
            "url": f"{self.url}/repos/{self.repository}/check-runs/{rid}",
            "html_url": f"https://github.com/{self.repository}/runs/{rid}",
            "details_url": run.get("details_url", ""),
            "status": run.get("status", "queued"),
            "conclusion": run.get("conclusion"),
            "started_at": "2026-01-01T00:00:00Z",
            "completed_at": "2026-01-01T00:00:01Z" if run.get("status") == "completed" else None,
            "name": run["name"],
            "output": {
                "title": output.get("title"),
                "summary": output.get("summary"),
                "text": output.get("text"),
                "annotations_count": len(self.annotations.get(rid, [])),
                "annotations_url": f"{self.url}/repos/{self.repository}/check-runs/{rid}/annotations",
            },
            "check_suite": {"id": 77},
            "app": {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"},
            "pull_requests": [],
        }

    # -- the HTTP side ---------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
                pass

            def do_GET(self) -> None:
                fake._dispatch(self, "GET")

            def do_POST(self) -> None:
                fake._dispatch(self, "POST")

            def do_PATCH(self) -> None:
                fake._dispatch(self, "PATCH")

        return Handler

    def _send(self, handler: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        handler.send_header("X-RateLimit-Limit", "5000")
        handler.send_header("X-RateLimit-Remaining", "4999")
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _page(self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, str], items: list[Any]) -> None:
        per_page = min(int(query.get("per_page", 30)), 100)
        page = max(int(query.get("page", 1)), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        links = []

        def link(n: int, rel: str) -> str:
            params = {k: v for k, v in query.items() if k != "page"} | {"page": str(n)}
            return f'<{self.url}{path}?{urlencode(params)}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        headers = {"Link": ", ".join(links)} if links else {}
        self._send(handler, 200, items[(page - 1) * per_page: page * per_page], headers)

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        auth = handler.headers.get("Authorization", "")
        token = auth.split(" ", 1)[1] if " " in auth else None
        with self._lock:
            self.requests.append(Request(method, parts.path, query, body, token))
            # GitHub also answers on /repositories/{id}/… (the form its Link headers use)
            path = re.sub(rf"^/repositories/{self.repo_id}/", f"/repos/{self.repository}/", parts.path)
            access = self.tokens.get(token or "")
            if access is None:
                return self._send(handler, 401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"})
            if method != "GET" and access != "write":
                return self._send(handler, 403, FORBIDDEN)
            self._route(handler, method, path, parts.path, query, body)

    def _route(self, handler: BaseHTTPRequestHandler, method: str, path: str, raw_path: str,
               query: dict[str, str], body: Any) -> None:
        base = f"/repos/{self.repository}"
        if not path.startswith(base + "/"):
            return self._send(handler, 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})
        rest = path[len(base):]
        if m := re.fullmatch(r"/issues/(\d+)/comments", rest):
            number = int(m.group(1))
            if number not in self.comments:
                return self._send(handler, 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})
            if method == "GET":
                listed_path = f"/repositories/{self.repo_id}/issues/{number}/comments"
                return self._page(handler, listed_path, query, self.comments[number])
            if method == "POST":
                text = (body or {}).get("body", "")
                if len(text) > self.comment_limit:
                    return self._too_long(handler)
                comment = self._comment(number, text, BOT)
                self.comments[number].append(comment)
                return self._send(handler, 201, comment)
        if (m := re.fullmatch(r"/issues/comments/(\d+)", rest)) and method == "PATCH":
            cid = int(m.group(1))
            edited = next((c for cs in self.comments.values() for c in cs if c["id"] == cid), None)
            if edited is None:
                return self._send(handler, 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})
            text = (body or {}).get("body", "")
            if len(text) > self.comment_limit:
                return self._too_long(handler)
            edited["body"] = text
            edited["updated_at"] = "2026-01-01T00:05:00Z"
            return self._send(handler, 200, edited)
        if rest == "/check-runs" and method == "POST":
            return self._check_run(handler, None, body or {})
        if (m := re.fullmatch(r"/check-runs/(\d+)", rest)) and method == "PATCH":
            return self._check_run(handler, int(m.group(1)), body or {})
        if rest == "/pulls" and method == "GET":
            wanted = query.get("head")
            pulls = [self._pull_payload(p) for p in self.pulls.values()
                     if p.state == query.get("state", "open")
                     and (wanted is None or wanted == f"{p.head_repo.split('/')[0]}:{p.head_ref}")]
            return self._page(handler, raw_path, query, pulls)
        if (m := re.fullmatch(r"/pulls/(\d+)", rest)) and method == "GET" and int(m.group(1)) in self.pulls:
            return self._send(handler, 200, self._pull_payload(self.pulls[int(m.group(1))]))
        if (m := re.fullmatch(r"/pulls/(\d+)/files", rest)) and method == "GET" and int(m.group(1)) in self.pulls:
            files = [{"sha": "c" * 40, "filename": name, "status": "modified", "additions": 1, "deletions": 0,
                      "changes": 1} for name in self.pulls[int(m.group(1))].files]
            return self._page(handler, f"/repositories/{self.repo_id}/pulls/{m.group(1)}/files", query, files)
        return self._send(handler, 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})

    def _too_long(self, handler: BaseHTTPRequestHandler) -> None:
        self._send(handler, 422, {
            "message": "Validation Failed",
            "errors": [{"resource": "IssueComment", "code": "custom", "field": "body",
                        "message": f"body is too long (maximum is {self.comment_limit} characters)"}],
            "documentation_url": DOCS, "status": "422"})

    def _check_run(self, handler: BaseHTTPRequestHandler, rid: int | None, body: dict[str, Any]) -> None:
        output = body.get("output") or {}
        annotations = output.get("annotations") or []
        problems = []
        if len(annotations) > 50:
            problems.append("Only 50 annotations may be sent per request")
        if output and not (output.get("title") and output.get("summary")):
            problems.append("output needs title and summary")
        for a in annotations:
            if not {"path", "start_line", "end_line", "annotation_level", "message"} <= set(a):
                problems.append("annotation misses a required key")
            elif a["annotation_level"] not in ("notice", "warning", "failure"):
                problems.append("annotation_level must be notice, warning or failure")
        if rid is None and not (body.get("name") and body.get("head_sha")):
            problems.append("name and head_sha are required")
        if problems:
            return self._send(handler, 422, {"message": "Validation Failed", "errors": problems,
                                             "documentation_url": DOCS, "status": "422"})
        if rid is None:
            rid = self._new_id()
            self.check_runs[rid] = {"id": rid, "name": body["name"], "head_sha": body["head_sha"]}
        elif rid not in self.check_runs:
            return self._send(handler, 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})
        run = self.check_runs[rid]
        for key in ("status", "conclusion", "details_url", "name"):
            if key in body:
                run[key] = body[key]
        if output:
            run["output"] = {k: v for k, v in output.items() if k != "annotations"}
            self.annotations.setdefault(rid, []).extend(annotations)
        return self._send(handler, 201 if len(self.requests) and handler.command == "POST" else 200,
                          self._check_run_payload(run))


def make_report(findings: int = 3, path: str = "models/cloud", severity: str = "error", with_file: bool = True) -> Report:
    """A report with `findings` findings on distinct lines of README.md (for API tests)."""
    from validator.core.findings import Area, Artefact, Finding, Severity
    from validator.core.report import Report

    items = [Finding("MC202", Area.MODEL_CARD, Severity(severity), f"finding {i} <b>@octocat</b>",
                     "README.md" if with_file else None, i + 1 if with_file else None) for i in range(findings)]
    return Report(path, "Cloud model", "1.0.0", Severity.ERROR, findings=items,
                  artefacts=[Artefact("README.md", 10, "0" * 64)])
