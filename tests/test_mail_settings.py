"""SMTP settings are checked by the model itself (every caller: CLI, web, library): seconds
are finite and bounded, and an error names the option or variable the value came from."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from dpa_engine.mail import MailError, SmtpSettings
from dpa_engine.mail.smtp import MAX_BACKOFF_SECONDS, MAX_TIMEOUT_SECONDS


@pytest.mark.parametrize("field", ["timeout", "backoff_seconds", "backoff_max_seconds"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 1e308])
def test_seconds_must_be_finite_and_bounded(field: str, value: float) -> None:
    with pytest.raises(ValidationError):
        SmtpSettings.model_validate({field: value})


def test_the_bounds_themselves_are_accepted() -> None:
    settings = SmtpSettings(timeout=MAX_TIMEOUT_SECONDS, backoff_seconds=0.0,
                            backoff_max_seconds=MAX_BACKOFF_SECONDS)
    assert settings.timeout == MAX_TIMEOUT_SECONDS
    with pytest.raises(ValidationError):
        SmtpSettings(timeout=0.0)


@pytest.mark.parametrize(("variable", "value", "fragment"), [
    ("DPA_SMTP_TIMEOUT", "inf", "finite"), ("DPA_SMTP_TIMEOUT", "NaN", "finite"),
    ("DPA_SMTP_TIMEOUT", "0", "greater than 0"), ("DPA_SMTP_TIMEOUT", "86400", "3600"),
    ("DPA_SMTP_BACKOFF", "inf", "finite"), ("DPA_SMTP_BACKOFF_MAX", "-1", "greater than"),
    ("DPA_SMTP_BACKOFF_MAX", "1e400", "finite"), ("DPA_SMTP_PORT", "0", "port"),
])
def test_an_environment_value_is_named_on_one_line(monkeypatch: pytest.MonkeyPatch,
                                                  variable: str, value: str,
                                                  fragment: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(MailError) as caught:
        SmtpSettings.from_env()
    message = caught.value.message
    assert f"{variable}: invalid SMTP setting '" in message
    assert f"= '{value}'" in message
    assert fragment in message and f"set {variable} to " in message
    assert "\n" not in message


def test_an_option_is_named_rather_than_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPA_SMTP_BACKOFF", "1")
    with pytest.raises(MailError, match=r"^--backoff / DPA_SMTP_BACKOFF: .* \(from --backoff\)"):
        SmtpSettings.from_env(backoff_seconds=math.inf)


def test_the_password_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPA_SMTP_PASSWORD", "s3cret")
    monkeypatch.setenv("DPA_SMTP_TIMEOUT", "never")
    with pytest.raises(MailError) as caught:
        SmtpSettings.from_env()
    assert "s3cret" not in caught.value.message
