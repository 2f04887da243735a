"""validator.core.redact: secret values of model-check's environment and token shapes become [REDACTED]."""

from __future__ import annotations

from typing import cast

import pytest

from validator.core.redact import REDACTED, redact, secret_values

ENV = {
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "MY_API_KEY": "abcdef",
    "DEPLOY_TOKEN": "abcdef-longer",  # contains the shorter value: the longest must win
    "GITHUB_TOKEN": "ghs_notshaped",
    "GITHUB_WORKSPACE": "/home/runner/work/repo/repo",  # public context, not a credential
    "GITHUB_EVENT_NAME": "pull_request",
    "SHORT_SECRET": "12345",  # too short to redact without breaking ordinary text
    "SSL_CERT_FILE": "/etc/hosts",
    "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE": "/etc/hosts",  # an existing path: a CA bundle, not a secret
    "PLAIN": "not-a-secret-value",
}


def test_values_of_secret_looking_variables_are_redacted() -> None:
    text = ("key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, token abcdef-longer and abcdef; ghs_notshaped; "
            "event pull_request in /home/runner/work/repo/repo; 12345; /etc/hosts; not-a-secret-value")
    redacted = redact(text, ENV)
    assert redacted == (f"key {REDACTED}, token {REDACTED} and {REDACTED}; {REDACTED}; "
                        "event pull_request in /home/runner/work/repo/repo; 12345; /etc/hosts; not-a-secret-value")


def test_secret_values_are_longest_first() -> None:
    values = secret_values(ENV)
    assert values.index("abcdef-longer") < values.index("abcdef")
    assert "pull_request" not in values and "/etc/hosts" not in values and "12345" not in values


def test_token_shapes_are_redacted_without_any_environment() -> None:
    cases = {
        "ghp_" + "a1B2c3D4e5" * 4: REDACTED,
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz": REDACTED,
        "gho_" + "Z" * 36: REDACTED,
        "AKIAIOSFODNN7EXAMPLE": REDACTED,
        "https://x-access-token:opaque.value-1@github.com/o/r.git": f"https://x-access-token:{REDACTED}@github.com/o/r.git",
        "Authorization: Bearer eyJhbGciOi.payload.sig": f"Authorization: Bearer {REDACTED}",
        "extraheader = AUTHORIZATION: basic eC1hY2Nlc3M=": f"extraheader = AUTHORIZATION: basic {REDACTED}",
        "https://user:hunter22@pypi.example.org/simple": f"https://user:{REDACTED}@pypi.example.org/simple",
    }
    for text, expected in cases.items():
        assert redact(text, {}) == expected, text


def test_ordinary_output_is_left_alone() -> None:
    text = "Traceback (most recent call last):\n  File \"inference.py\", line 3\nghost_value = 1\nhttps://pypi.org/simple/\n"
    assert redact(text, {}) == text



def test_every_text_of_a_report_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Result files of probes (tracebacks, notebook errors) reach the report without passing the sandbox's
    output redaction: the runner redacts the whole report as it is made."""
    from validator.core.findings import Area, CheckRecord, CheckStatus, Finding, Note, Severity
    from validator.core.records import EnvironmentRecord, ParityRecord
    from validator.core.report import Report
    from validator.pipeline.runner import _redact_report

    secret = "s3cr3t-value-from-the-runner"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    report = Report("pkg", None, None, Severity.ERROR)
    report.findings = [Finding("MC960", Area.INFERENCE, Severity.ERROR, f"cell 1 raises RuntimeError: {secret}", f"{secret}.ipynb")]
    report.checks = [CheckRecord(Area.INFERENCE, "notebook", CheckStatus.FAILED, f"why: {secret}")]
    report.notes = [Note.package(f"note {secret}"), Note.machine(f"cache {secret}")]
    # partial records: only the texts the redaction must reach
    report.parity = cast("ParityRecord", {"outputs": [{"name": secret, "error": f"load failed: {secret}"}]})
    report.environment = cast("EnvironmentRecord", {"output_tail": f"tail {secret} ghp_{'a' * 36}"})
    _redact_report(report)
    assert secret not in report.to_json() and "ghp_" not in report.to_json()
    assert report.findings[0].message == f"cell 1 raises RuntimeError: {REDACTED}"
    redacted_parity: dict[str, object] = {"outputs": [{"name": REDACTED, "error": f"load failed: {REDACTED}"}]}
    assert report.parity == redacted_parity


def test_a_huge_message_is_capped_after_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    from validator.core.findings import Area, Finding, Severity
    from validator.core.report import Report, validate_report
    from validator.pipeline.runner import MESSAGE_LIMIT, _redact_report

    secret = "s3cr3t-value-from-the-runner"
    monkeypatch.setenv("MY_API_TOKEN", secret)
    report = Report("pkg", None, None, Severity.ERROR)
    line = "x" * (MESSAGE_LIMIT // 2 - 10) + secret + "y" * 50_000  # the secret straddles the cut
    report.findings = [Finding("MC301", Area.RUNTIME, Severity.WARNING, f"unpinned: {line}", "requirements.txt", 1)]
    _redact_report(report)
    validate_report(report.to_dict())
    message = report.findings[0].message
    assert len(message) <= MESSAGE_LIMIT + 100 and "characters left out" in message
    assert "s3cr3t" not in message


def test_context_kept_from_package_code_by_prefix_alone_is_not_redacted() -> None:
    env = {"DOCKER_HOST": "unix:///run/user/1000/docker.sock", "AWS_REGION": "eu-central-1",
           "DOCKER_AUTH_CONFIG": "{\"auths\": {\"r\": {\"auth\": \"c2VjcmV0\"}}}"}
    text = "engine at unix:///run/user/1000/docker.sock in eu-central-1 with {\"auths\": {\"r\": {\"auth\": \"c2VjcmV0\"}}}"
    assert redact(text, env) == f"engine at unix:///run/user/1000/docker.sock in eu-central-1 with {REDACTED}"
