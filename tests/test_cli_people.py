"""`funnel user` and `funnel token`: the operator sets passwords, prints invitation links and
issues, lists and revokes personal tokens (against a migrated SQLite database)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from funnel.storage.people import People
from funnel.storage.personal_tokens import PersonalTokens
from funnel.storage.store import Store
from starter.cli import main
from tests.db_fixtures import migrate


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'funnel.db'}"
    migrate(url)
    return {"FUNNEL_DATABASE_URL": url, "FUNNEL_PUBLIC_URL": "https://crm.pusk.example/"}


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, input=stdin)
    return result.exit_code, result.output


def test_set_password_from_stdin_and_by_prompt(env: dict[str, str]) -> None:
    code, out = run(env, "user", "set-password", "ivanov", "--stdin", stdin="a long password\n")
    assert code == 0, out
    code, out = run(env, "user", "set-password", "petrov", stdin="petrov's secret\n" * 2)
    assert code == 0, out
    store = Store(env["FUNNEL_DATABASE_URL"])
    people = People(store)
    assert people.verify_password("ivanov", "a long password")
    assert people.verify_password("petrov", "petrov's secret")
    store.dispose()
    code, out = run(env, "user", "set-password", "ivanov", "--stdin", stdin="short\n")
    assert code == 1 and "too short" in out
    code, out = run(env, "user", "set-password", "nobody", "--stdin", stdin="a long password\n")
    assert code == 1 and "'nobody' is not in the directory" in out


def test_invite_prints_a_one_time_link(env: dict[str, str]) -> None:
    code, out = run(env, "user", "invite", "sidorova", "--hours", "2", "--json")
    assert code == 0, out
    invitation = json.loads(out)
    assert invitation["link"].startswith("https://crm.pusk.example/auth/invitations/")
    token = invitation["link"].rsplit("/", 1)[1]
    store = Store(env["FUNNEL_DATABASE_URL"])
    assert People(store).accept_invitation(token, "sidorova's password") == "sidorova"
    store.dispose()


def test_issue_list_and_revoke_a_personal_token(env: dict[str, str]) -> None:
    code, out = run(env, "token", "issue", "--employee", "ivanov", "--name", "laptop", "--json")
    assert code == 0, out
    issued = json.loads(out)
    assert issued["token"].startswith("fpt_") and issued["expires_at"] is not None
    store = Store(env["FUNNEL_DATABASE_URL"])
    assert PersonalTokens(store).resolve(issued["token"]) == "ivanov"  # marks it used
    store.dispose()
    code, out = run(env, "token", "list", "--json")
    [listed] = json.loads(out)
    assert listed["token_id"] == issued["token_id"] and listed["state"] == "active"
    assert listed["last_used_at"] is not None and "token" not in listed
    code, out = run(env, "token", "revoke", issued["token_id"])
    assert code == 0 and "revoked" in out
    code, out = run(env, "token", "revoke", issued["token_id"])
    assert code == 1 and "no active token" in out
    code, out = run(env, "token", "list")
    assert "revoked" in out and "laptop" in out
    code, out = run(env, "token", "issue", "--employee", "ghost")
    assert code == 1 and "'ghost' is not in the directory" in out
