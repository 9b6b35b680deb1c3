"""The Subgroups page's comparison of the cohort's own variable (a trial's arm, a yes/no or
a numeric one cut at its median) within subgroups: :func:`arm_forest`, one level against
another per subgroup level with the interaction p per subgroup variable, cached like the
rest of the page (``crlm.analysis.subgroup_effects``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crlm.analysis import extras
from crlm.analysis.pages import SUBGROUP_COLUMNS, SUBGROUP_MIN_EVENTS
from crlm.analysis.snapshot import Snapshot, cohort_frame, memo
from crlm.analysis.subgroup_effects import (
    MORE_SUBGROUP_COLUMNS, RowsResult, endpoint_columns, levels, own_variable, ranked_rows,
    variable_labels, with_extras,
)
from crlm.figures.forest import forest_rows

# what the own variable is compared within, where the cohort records it
ARM_SUBGROUP_COLUMNS = ("sex", *SUBGROUP_COLUMNS, *MORE_SUBGROUP_COLUMNS)


def arm_groups(values: pd.Series, variable: extras.ExtraVariable) -> extras.ExtraGroups:
    """A compared variable's groups: a categorical one by level, a numeric one by its two
    values (0/1) or cut at its median over the filtered cohort."""
    if variable.categorical:
        return extras.ExtraGroups(values.astype(object).where(values.notna(), extras.UNKNOWN)
                                  .astype(str).to_numpy(), tuple(variable.levels))
    return extras.extra_groups(values, variable)


@memo(maxsize=32)
def arm_levels(snap: Snapshot, key: tuple, variable_key: str) -> tuple[str, ...]:
    """The levels that can be compared, those the filtered cohort holds: a categorical
    variable's levels, a numeric one's groups (``unknown`` left out)."""
    variable = own_variable(snap, variable_key)
    values = with_extras(snap, cohort_frame(snap, key, ("patient_id",)))[variable.key]
    if variable.categorical:
        present = set(values.dropna().astype(str))
        return tuple(lv for lv in variable.levels if lv in present)
    return tuple(g for g in extras.extra_groups(values, variable).order if g != extras.UNKNOWN)


def _groups_among(values: pd.Series, variable: extras.ExtraVariable,
                  rows: np.ndarray) -> extras.ExtraGroups:
    """``extras.extra_groups`` of the patients ``rows`` (a numeric variable cut at their
    median); the other patients are ``unknown`` (they are not compared)."""
    part = extras.extra_groups(values[rows], variable)
    groups = np.full(len(values), extras.UNKNOWN, dtype=object)
    groups[rows] = part.groups
    return extras.ExtraGroups(groups, part.order, part.cut)


@dataclass(frozen=True, eq=False)
class ArmForest(RowsResult):
    """``compared`` vs ``reference`` of an own variable within each subgroup level
    (``crlm.figures.forest_rows`` columns); empty when no patient of either level has a
    known endpoint."""

    variable: str
    reference: str
    compared: str
    endpoint: str
    rows: pd.DataFrame


@memo(maxsize=32)
def arm_forest(snap: Snapshot, key: tuple, compare: str, reference: str, compared: str,
               endpoint: str, columns: tuple) -> ArmForest:
    """Hazard ratio of one level of the cohort's own variable against another, per
    subgroup level, with the interaction p per subgroup variable."""
    time_col, event_col = endpoint_columns(endpoint)
    variable = own_variable(snap, compare)     # a numeric one's cut is this filter's
    choices = tuple(variable.levels) if variable.categorical else arm_levels(snap, key, compare)
    for level in (reference, compared):
        if level not in choices:
            raise ValueError(f"{level!r} is not a level of {variable.label} under this "
                             f"filter (choose from {', '.join(choices) or 'none'})")
    labels = dict(zip(columns, variable_labels(snap, columns)))
    contract = [c for c in columns if not extras.is_extra(c)]
    wanted = tuple(dict.fromkeys(["patient_id", time_col, event_col, *contract]))
    data = with_extras(snap, cohort_frame(snap, key, wanted))
    arm = arm_groups(data[compare], variable).groups
    # the patients compared: a numeric subgroup variable is cut at their median, as the
    # prediction forest cuts at the median of the patients it compares
    compared_rows = (np.isin(arm.astype(str), [reference, compared])
                     & data[time_col].notna().to_numpy() & data[event_col].notna().to_numpy())
    groupings = {}
    for column in columns:
        if extras.is_extra(column):
            groupings[labels[column]] = _groups_among(data[column], own_variable(snap, column),
                                                      compared_rows)
        else:
            lv = levels(snap, data, column)
            groupings[labels[column]] = extras.ExtraGroups(lv.groups(), lv.order)
    result = extras.compare_within_subgroups(data[time_col], data[event_col], arm, reference,
                                             compared, groupings,
                                             min_events=SUBGROUP_MIN_EVENTS)
    if not result.n:
        return ArmForest(compare, reference, compared, endpoint, pd.DataFrame())
    rows = ranked_rows(forest_rows(result.results), list(result.order), result.order)
    return ArmForest(compare, reference, compared, endpoint, rows)
