"""Widgets shared by every page: sidebar filters, the notice, exports, thresholds."""
from __future__ import annotations

import datetime as dt
import re

import streamlit as st

from crlm import config
from crlm.store import CATEGORY_FILTERS, RANGE_FILTERS, UNKNOWN, CohortFilter, FilterError
from crlm.store.filters import DATE_MAX, DATE_MIN, EXTRA_KEY_PREFIX, QUERY_KEYS
from crlm.ui import loaders
from crlm.ui.extra_filters import extra_filters

_FILTER_KEY = "shared_filter"
_MOLECULAR = ("ras_status", "kras", "nras", "braf_v600e", "msi", "her2")
_MAIN = ("center", "cohort_split", "sex", "primary_side", "tbs_zone", "fong_group", "biologic",
         "regimen", "hepatectomy", "growth_pattern")
_SCORES = ("game_group",)  # categories drawn in the "Scores and CEA" expander
# Ranges besides age: a "from" and a "to" box each (empty = open), in the same expander.
_RANGES = tuple(c for c in RANGE_FILTERS if c != "age_years")
assert set(_MAIN + _MOLECULAR + _SCORES) == set(CATEGORY_FILTERS), "every filter has a control"
# Columns whose control is drawn only when the selected cohort records them.
_RECORDED = (*CATEGORY_FILTERS, *RANGE_FILTERS, "diagnosis_date")


def show_error(message: str) -> None:
    st.error(message, icon=":material/error:")


def _options(cohort: str, column: str) -> list[str]:
    col = config.COLUMNS_BY_NAME[column]
    if col.kind == "bool":
        opts = ["yes", "no"]
    elif col.levels:
        opts = list(col.levels)
    else:
        opts = loaders.column_levels(cohort, column)
    if column in _MOLECULAR or column in ("growth_pattern", "primary_side"):
        opts = [o for o in opts if o != UNKNOWN] + [UNKNOWN]
    return opts


def _note_filter_problem(message: str) -> None:
    """A message for the sidebar, shown once under the patient count (several may gather)."""
    earlier = st.session_state.get("filter_error")
    st.session_state["filter_error"] = f"{earlier}\n\n{message}" if earlier else message


def _as_typed(text: str) -> str:
    """Messages that quote a link's text, as markdown that shows it as typed: each
    paragraph one code span, in which nothing becomes a link, emphasis or formula."""
    spans = []
    for part in text.split("\n\n"):
        fence = "`" * (max((len(run) for run in re.findall(r"`+", part)), default=0) + 1)
        spans.append(f"{fence} {part} {fence}")
    return "\n\n".join(spans)


def _initial_filter() -> CohortFilter:
    params = {k: st.query_params.get_all(k)[-1] for k in st.query_params.keys()
              if not k.startswith(EXTRA_KEY_PREFIX)}  # the cohort's own: extra_filters
    unknown = [k for k in params if k not in QUERY_KEYS]
    if unknown:
        shown = ", ".join(repr(k[:40]) for k in unknown[:5]) + (", …" if len(unknown) > 5 else "")
        _note_filter_problem(f"Ignored the link's parameter{'s' if len(unknown) > 1 else ''} "
                             f"{shown}: not a filter.")
    try:
        return CohortFilter.from_query_params(params)
    except FilterError as exc:
        _note_filter_problem(f"Ignored the link's filter: {exc}")
        return CohortFilter()


def _range_key(column: str, end: str) -> str:
    return f"flt_{column}_{end}"


def _drop_unavailable(cohort: str, column: str, options: list[str]) -> None:
    """Remove chosen values this cohort does not have (a link's ``center=Centre Z``) from
    the widget's state before it is drawn, and say so instead of dropping them silently."""
    key = f"flt_{column}"
    chosen = list(st.session_state.get(key) or ())
    missing = [v for v in chosen if v not in options]
    if missing:
        st.session_state[key] = [v for v in chosen if v in options]
        label = config.COLUMNS_BY_NAME[column].label
        _note_filter_problem(f"Ignored the filter {label}: {', '.join(map(repr, missing))} "
                             f"(not in cohort {cohort!r}).")


def _clear_unrecorded(cohort: str, recorded: set[str]) -> None:
    """Empty the filters on columns the cohort does not record (their controls are not
    drawn); a value a link gave one is named as ignored."""
    for column in _RECORDED:
        if column in recorded:
            continue
        label = config.COLUMNS_BY_NAME[column].label
        keys = ([f"flt_{column}"] if column in CATEGORY_FILTERS
                else ["flt_age"] if column == "age_years"
                else ["flt_dates"] if column == "diagnosis_date"
                else [_range_key(column, end) for end in ("lo", "hi")])
        empty = {"flt_age": (18, 100), "flt_dates": (None, None)}
        if any(st.session_state.get(k) not in (None, [], empty.get(k)) for k in keys):
            _note_filter_problem(f"Ignored the filter {label}: not recorded in cohort "
                                 f"{cohort!r}.")
        for k in keys:
            st.session_state[k] = empty.get(k, [] if column in CATEGORY_FILTERS else None)


def _restore_filter_state() -> None:
    """Give every filter widget its value before it is drawn: from the link on a session's
    first run, and again from the URL (which mirrors the filter) for any widget whose state
    Streamlit dropped because a run ended before drawing it."""
    range_keys = [_range_key(c, end) for c in _RANGES for end in ("lo", "hi")]
    keys = ["flt_cohort", *(f"flt_{c}" for c in CATEGORY_FILTERS), "flt_age", "flt_dates",
            *range_keys]
    if all(k in st.session_state for k in keys):
        return
    init = _initial_filter()
    lo, hi = init.ranges.get("age_years", (None, None))
    values = {"flt_cohort": init.cohort,
              **{f"flt_{c}": list(init.categories.get(c, ())) for c in CATEGORY_FILTERS},
              "flt_age": (int(lo) if lo is not None else 18, int(hi) if hi is not None else 100),
              "flt_dates": (init.date_from, init.date_to)}
    for column in _RANGES:
        whole = config.COLUMNS_BY_NAME[column].kind == "int"
        for end, bound in zip(("lo", "hi"), init.ranges.get(column, (None, None))):
            values[_range_key(column, end)] = (
                None if bound is None else int(bound) if whole and bound == int(bound) else bound)
    for key in keys:
        if key not in st.session_state:
            st.session_state[key] = values[key]


def sidebar_filters() -> CohortFilter:
    """Draw the shared cohort filter in the sidebar; mirror it in the URL; return it."""
    _restore_filter_state()

    sb = st.sidebar
    sb.header("Cohort")
    cohorts = loaders.list_cohorts()
    names = list(cohorts["cohort"]) if len(cohorts) else [config.DEMO_COHORT]
    if st.session_state["flt_cohort"] not in names:
        _note_filter_problem(
            f"Cohort {st.session_state['flt_cohort']!r} is not in this store; showing {names[0]!r}."
        )
        st.session_state["flt_cohort"] = names[0]
    labels = {row.cohort: f"{row.cohort} ({row.kind}, {row.n_patients} patients)"
              for row in cohorts.itertuples()} if len(cohorts) else {}
    cohort = sb.selectbox("Cohort", names, key="flt_cohort",
                          format_func=lambda c: labels.get(c, c))
    recorded = set(loaders.recorded_columns(cohort, _RECORDED))
    _clear_unrecorded(cohort, recorded)
    for column in (c for c in _MAIN if c in recorded):
        options = _options(cohort, column)
        _drop_unavailable(cohort, column, options)
        sb.multiselect(config.COLUMNS_BY_NAME[column].label, options,
                       key=f"flt_{column}", placeholder="all")
    if "age_years" in recorded:
        sb.slider("Age (years)", 18, 100, key="flt_age")
    molecular = [c for c in _MOLECULAR if c in recorded]
    if molecular:
        with sb.expander("Molecular", expanded=any(st.session_state.get(f"flt_{c}")
                                                   for c in molecular)):
            for column in molecular:
                options = _options(cohort, column)
                _drop_unavailable(cohort, column, options)
                st.multiselect(config.COLUMNS_BY_NAME[column].label, options,
                               key=f"flt_{column}", placeholder="all")
    scores = [c for c in _SCORES if c in recorded]
    ranges_shown = [c for c in _RANGES if c in recorded]
    scores_set = (any(st.session_state.get(f"flt_{c}") for c in scores)
                  or any(st.session_state.get(_range_key(c, e)) is not None
                         for c in ranges_shown for e in ("lo", "hi")))
    if scores or ranges_shown:
        with sb.expander("Scores and CEA", expanded=scores_set):
            for column in scores:
                options = _options(cohort, column)
                _drop_unavailable(cohort, column, options)
                st.multiselect(config.COLUMNS_BY_NAME[column].label, options,
                               key=f"flt_{column}", placeholder="all")
            for column in ranges_shown:
                _range_inputs(column)
    d_from, d_to = st.session_state["flt_dates"]
    if "diagnosis_date" in recorded:
        with sb.expander("Diagnosis date"):
            d_from = st.date_input("From", value=d_from, min_value=DATE_MIN,
                                   max_value=DATE_MAX, key="flt_date_from")
            d_to = st.date_input("To", value=d_to, min_value=DATE_MIN,
                                 max_value=DATE_MAX, key="flt_date_to")
    else:
        d_from = d_to = None
    extra_levels, extra_ranges = extra_filters(cohort, _note_filter_problem)
    missing = [c for c in _RECORDED if c not in recorded]
    if missing:
        sb.caption("Not recorded in this cohort, so not offered as a filter: "
                   + ", ".join(config.COLUMNS_BY_NAME[c].label for c in missing) + ".")

    age_lo, age_hi = st.session_state["flt_age"]
    ranges = {}
    if (age_lo, age_hi) != (18, 100):
        ranges["age_years"] = (age_lo, age_hi)
    for column in _RANGES:
        lo, hi = (st.session_state.get(_range_key(column, end)) for end in ("lo", "hi"))
        if lo is not None or hi is not None:
            ranges[column] = (lo, hi)
    try:
        filt = CohortFilter(
            cohort=cohort,
            categories={c: tuple(st.session_state.get(f"flt_{c}") or ()) for c in CATEGORY_FILTERS},
            ranges=ranges,
            date_from=d_from or None,
            date_to=d_to or None,
            extra_levels=extra_levels,
            extra_ranges=extra_ranges,
            extra_labels={v.name: v.label for v in loaders.load_extra_variables(cohort)},
        )
    except FilterError as exc:
        sb.error(_as_typed(str(exc)))
        filt = CohortFilter(cohort=cohort)
    st.session_state[_FILTER_KEY] = filt
    wanted = filt.to_query_params()
    current = {k: st.query_params.get_all(k)[-1] for k in st.query_params.keys()}
    if current != wanted:
        st.query_params.from_dict(wanted)
    n = loaders.count_patients(filt)
    sb.metric("Patients matching", f"{n:,}")
    if st.session_state.get("filter_error"):
        sb.warning(_as_typed(st.session_state.pop("filter_error")))
    return filt


def _range_inputs(column: str) -> None:
    """Two boxes, from and to, for a numeric filter; an empty box leaves that end open."""
    col = config.COLUMNS_BY_NAME[column]
    whole = col.kind == "int"
    lo, hi = (int(col.lo), int(col.hi)) if whole else (float(col.lo), float(col.hi))
    unit = f" ({col.unit})" if col.unit else ""
    left, right = st.columns(2)
    for where, end, word in ((left, "lo", "from"), (right, "hi", "to")):
        where.number_input(f"{col.label}{unit} {word}", min_value=lo, max_value=hi,
                           step=1 if whole else None, key=_range_key(column, end),
                           placeholder="any")


def current_filter() -> CohortFilter:
    """The filter drawn by ``sidebar_filters`` in this run (default when none was drawn)."""
    return st.session_state.get(_FILTER_KEY) or CohortFilter()


def page_header(title: str, caption: str = "") -> None:
    """Title plus the notice every page carries about the data it shows."""
    st.title(title)
    filt = current_filter()
    info = loaders.load_cohort_info(filt.cohort) or {}
    if info.get("kind", "synthetic") == "synthetic":
        st.warning(config.SYNTHETIC_NOTICE, icon=":material/science:")
    else:
        st.info("Research use only, not a medical device.", icon=":material/info:")
    if caption:
        st.caption(caption)


def export_buttons(fig, data, name: str, *, n: int | None = None,
                   title: str | None = None) -> None:
    """Download buttons for a figure (PNG, SVG, PDF) and the data behind it (CSV):
    ``data`` a frame (or None), or a function giving it, called only on a click."""
    from crlm.figures import export as fx

    filt = current_filter()
    caption = f"{filt.describe()}" + (f"; n = {n:,}" if n is not None else "") + \
        f"; {dt.date.today().isoformat()}"
    base = fx.safe_filename(name, filt.cohort, dt.date.today().isoformat())
    title = title or (fig.layout.title.text if fig.layout.title and fig.layout.title.text else name)
    cols = st.columns(4)
    key = f"export_{base}"
    for col, fmt, mime in zip(cols[:3], ("png", "svg", "pdf"),
                              ("image/png", "image/svg+xml", "application/pdf")):
        with col:
            st.download_button(
                fmt.upper(),
                data=lambda fmt=fmt: fx.export_figure(fig, fmt, title=title, caption=caption),
                file_name=f"{base}.{fmt}", mime=mime, key=f"{key}_{fmt}",
                on_click="ignore", width="stretch",
            )
    with cols[3]:  # built on click, like the figures: a large cohort's CSV costs each run
        st.download_button("CSV", data=lambda: fx.figure_data_csv(data() if callable(data) else data), file_name=f"{base}.csv",
                           mime="text/csv", key=f"{key}_csv", on_click="ignore", width="stretch")


def r_export_button(build, name: str, *, label: str = "R script (zip)") -> None:
    """Download button for a page's "R script" export: ``build()`` returns a
    ``crlm.reports.r_export.AnalysisExport``; it runs on click, on its own thread, so it
    must not read session state (pass the filter and choices in)."""
    from crlm.figures import export as fx
    from crlm.reports.r_export import ExportInputError, problem_zip

    filt = current_filter()
    base = fx.safe_filename(name, filt.cohort, dt.date.today().isoformat())

    def zip_bytes() -> bytes:
        try:
            return build().zip_bytes()
        except ExportInputError as exc:  # e.g. no patient left: say so inside the zip
            return problem_zip(base, str(exc))

    st.download_button(
        label, data=zip_bytes, file_name=f"{base}_R.zip", mime="application/zip",
        key=f"r_export_{base}", on_click="ignore",
        help="The de-identified analysis data and an R script (survival, pROC) that recomputes "
             "every number shown here and prints ours and R's side by side.")


# -- model choice and threshold shared between pages -----------------------
def selected_model(task: str, options: list[str], *, label: str = "Model",
                   container=None) -> str | None:
    """A model selector whose choice is shared by every page (per task)."""
    if not options:
        return None
    key = f"shared_model_{task}"
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0]
    records = loaders.load_models(current_filter().cohort)
    names = dict(zip(records["model_id"], records["name"])) if len(records) else {}
    where = container or st
    return where.selectbox(label, options, key=key, format_func=lambda m: names.get(m, m))


def get_threshold(model_id: str, default: float | None) -> float | None:
    return st.session_state.get(f"shared_threshold_{model_id}", default)


def set_threshold(model_id: str, value: float) -> None:
    st.session_state[f"shared_threshold_{model_id}"] = float(value)


def endpoint_choices(cohort: str, key: str) -> list[str]:
    """The survival endpoints the cohort records (OS at least); a choice kept in ``key``
    from another cohort that this one lacks is dropped."""
    times = {e: t for e, (t, _) in config.ENDPOINTS.items()}
    recorded = set(loaders.recorded_columns(cohort, list(times.values())))
    endpoints = [e for e, t in times.items() if t in recorded] or ["OS"]
    if st.session_state.get(key) not in endpoints:
        st.session_state.pop(key, None)
    return endpoints

