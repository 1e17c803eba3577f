"""`funnel up` without FUNNEL_API_TOKENS makes one local token instead of an API that
refuses everyone, and keeps it across restarts."""

from __future__ import annotations

from pathlib import Path

from api.auth import SCOPES
from funnel.runtime.settings import Settings
from starter.system import with_local_token


def test_local_token_is_made_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", api_tokens={})
    first, token = with_local_token(settings)
    assert token and first.api_tokens == {token: list(SCOPES)}
    assert (tmp_path / "home" / "api-token").stat().st_mode & 0o777 == 0o600
    again, same = with_local_token(settings)
    assert same == token and again.api_tokens == first.api_tokens


def test_configured_tokens_are_left_alone(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, api_tokens={"secret": ["deals:read"]})
    kept, token = with_local_token(settings)
    assert token is None and kept.api_tokens == {"secret": ["deals:read"]}
    assert not (tmp_path / "api-token").exists()
