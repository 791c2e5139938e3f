"""Settings refuse what would only fail later, at the first dispute or recycle run."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kernel.settings import DISPUTE_RULES, Settings
from resolvers.evidence import RULES


def test_dispute_rules_named_in_settings_exist() -> None:
    assert set(DISPUTE_RULES) == set(RULES)


@pytest.mark.parametrize(
    "override",
    [
        {"dispute_priority": ["first_entry", "coin_toss"]},
        {"recycle_days": {"A": 30, "B": 60}},
        {"cadence_days": {"A": 0, "B": 90, "C": 180}},
    ],
)
def test_bad_settings_are_refused(override: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**override)  # type: ignore[arg-type]


def test_environment_configures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWNERGRAPH_RECYCLE_DAYS", '{"A": 10, "B": 20, "C": 30}')
    monkeypatch.setenv("OWNERGRAPH_DISPUTE_PRIORITY", '["recent_follow_up"]')
    settings = Settings()
    assert settings.recycle_days["A"] == 10 and settings.dispute_priority == ["recent_follow_up"]
