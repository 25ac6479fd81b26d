"""Which study arms see device suggestions: the one owner of that rule.

The old platform asked for suggestions only for households of the support arm
(`Household.app_version` = support). `ENERGYLEAF_SUGGESTION_ARMS` names the arms whose households
see them (default: support). Peaks of every arm are still classified, for research; a household
of another arm is only never shown the result (docs/classifier.md, "Serving"). Staff and
researchers reading a household's data see every suggestion.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Exists, OuterRef

from energyleaf.users.models import Household
from energyleaf.users.selectors import households_in_arms


def suggestion_arms() -> frozenset[int]:
    """The `Household.app_version` values whose households see suggestions."""
    by_name = {member.name.lower(): int(member.value) for member in Household.AppVersion}
    names = tuple(settings.ENERGYLEAF_SUGGESTION_ARMS)
    unknown = sorted(set(names) - set(by_name))
    if unknown:
        raise ImproperlyConfigured(
            f"ENERGYLEAF_SUGGESTION_ARMS names unknown arms {unknown}; known: {sorted(by_name)}."
        )
    return frozenset(by_name[name] for name in names)


def household_sees_suggestions(household: Household) -> bool:
    """Whether the household's arm is shown device suggestions (no query)."""
    return household.app_version in suggestion_arms()


def suggestion_shown_to_household() -> Exists:
    """A filter on `DeviceSuggestion`: true where the household of its peak
    (`sequence.household_key`, the household user's id) belongs to an arm that sees suggestions.
    It runs inside the query that loads the suggestions, so hiding them costs no extra query."""
    return Exists(
        households_in_arms(app_versions=suggestion_arms()).filter(
            user_id=OuterRef("sequence__household_key")
        )
    )
