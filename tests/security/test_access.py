"""Access: sign-in gate, roles, rate limiting, salted hashes, demo mode, OIDC."""
from __future__ import annotations

import dataclasses

import pytest
from streamlit.testing.v1 import AppTest

from crlm import auth
from tests.security.conftest import APP, PASSWORDS

pytestmark = pytest.mark.slow


def _app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=60)


def _sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="auth_name").input(name)
    at.text_input(key="auth_password").input(password)
    [b for b in at.button if b.label == "Sign in"][0].click()
    return at.run()


def _page_titles(at: AppTest) -> set[str]:
    return {info.get("page_name") for info in at._registered_pages.values()}


def _shows_patient_data(at: AppTest) -> bool:
    return bool(len(at.dataframe) or len(at.metric) or len(at.get("plotly_chart"))
                or len(at.sidebar.multiselect))


def test_unauthenticated_user_sees_only_the_sign_in_form(app_env):
    at = _app().run()
    assert not at.exception, at.exception
    assert at.text_input(key="auth_name") is not None
    assert at.text_input(key="auth_password").proto.type == 1  # PASSWORD
    assert not _shows_patient_data(at)
    assert not any(b.label == "Sign out" for b in at.sidebar.button)


def test_wrong_password_gets_a_generic_message_and_no_data(app_env):
    at = _sign_in(_app().run(), "vera", "not-the-password")
    assert not at.exception, at.exception
    assert any("Wrong user name or password" in e.value for e in at.error)
    assert not _shows_patient_data(at)
    at = _sign_in(at, "nobody", "whatever-password")
    assert any("Wrong user name or password" in e.value for e in at.error)


def test_viewer_navigation_lacks_score_and_admin(app_env):
    at = _sign_in(_app().run(), "vera", PASSWORDS["vera"][1])
    assert not at.exception, at.exception
    titles = _page_titles(at)
    assert "Cohort" in titles
    assert "Score a case" not in titles and "Admin" not in titles
    assert any("Signed in as **vera** (viewer)" in c.value for c in at.sidebar.caption)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/admin.py")


def test_admin_navigation_has_admin(app_env):
    at = _sign_in(_app().run(), "adam", PASSWORDS["adam"][1])
    assert not at.exception, at.exception
    titles = _page_titles(at)
    assert "Admin" in titles


def _same_session(at: AppTest) -> AppTest:
    """A new run of the app with the session state of ``at``.

    Later looks at the sign-in gate start from a copied session, as a new browser tab
    of the same session would."""
    fresh = _app()
    for key in ("auth_user",):
        if key in at.session_state:
            fresh.session_state[key] = at.session_state[key]
    return fresh


def test_sign_out_returns_to_the_form(app_env):
    at = _sign_in(_app().run(), "clara", PASSWORDS["clara"][1])
    assert at.session_state["auth_user"].role == "clinician"
    at.sidebar.button(key="auth_sign_out").click().run()
    assert not at.exception, at.exception
    assert "auth_user" not in at.session_state
    at = _same_session(at).run()
    assert at.text_input(key="auth_name") is not None
    assert not _shows_patient_data(at)


def test_sign_in_and_sign_out_are_in_the_audit_log(app_env):
    from crlm.store import Store, load_audit_log
    from crlm.ui import loaders

    at = _sign_in(_app().run(), "clara", PASSWORDS["clara"][1])
    at.sidebar.button(key="auth_sign_out").click().run()
    _sign_in(_app().run(), "vera", "not-her-password")  # a failed sign-in: no audit row
    loaders.release_stores()
    with Store(app_env["db"], create=False) as store:
        audit = load_audit_log(store)
    rows = list(zip(audit["actor"], audit["action"]))
    assert ("clara", "sign_in") in rows and ("clara", "sign_out") in rows
    assert not any(actor == "vera" for actor, _ in rows)
    assert not audit.astype(str).apply(lambda c: c.str.contains("clinician-password")).any().any()


def test_removed_user_is_signed_out_and_role_change_applies_on_next_run(app_env):
    at = _sign_in(_app().run(), "clara", PASSWORDS["clara"][1])
    auth.set_role(app_env["users"], "clara", "viewer")
    at = _same_session(at).run()
    assert any("(viewer)" in c.value for c in at.sidebar.caption)
    auth.remove_user(app_env["users"], "clara")
    at = _same_session(at).run()
    assert at.text_input(key="auth_name") is not None
    assert not _shows_patient_data(at)


def test_a_password_change_signs_the_user_out_of_open_sessions(app_env):
    at = _sign_in(_app().run(), "vera", PASSWORDS["vera"][1])
    assert any("Signed in as" in c.value for c in at.sidebar.caption)
    auth.set_password(app_env["users"], "vera", "a-new-password-2")
    at = _same_session(at).run()
    assert at.text_input(key="auth_name") is not None
    assert not _shows_patient_data(at)


def test_expired_session_asks_to_sign_in_again(app_env):
    at = _sign_in(_app().run(), "vera", PASSWORDS["vera"][1])
    user = at.session_state["auth_user"]
    user = dataclasses.replace(user, signed_in_at=user.signed_in_at - 13 * 3600)
    fresh = _app()
    fresh.session_state["auth_user"] = user
    fresh.run()
    assert any("expired" in i.value for i in fresh.info)
    assert not _shows_patient_data(fresh)


@pytest.mark.parametrize("action", ["save_case", "import", "retrain", "manage_users"])
def test_check_permission_refuses_a_viewer(action):
    viewer = auth.User("vera", "viewer")
    with pytest.raises(auth.PermissionDenied, match=action):
        auth.check_permission(viewer, action)
    assert issubclass(auth.PermissionDenied, PermissionError)


def test_check_permission_follows_the_role_order():
    clinician, admin = auth.User("c", "clinician"), auth.User("a", "admin")
    auth.check_permission(clinician, "save_case")
    auth.check_permission(clinician, "score")
    with pytest.raises(auth.PermissionDenied):
        auth.check_permission(clinician, "import")
    for action in auth.ACTIONS:
        auth.check_permission(admin, action)
    for nobody in (None, auth.ANONYMOUS, auth.User("x", "superuser"), auth.User("x", "")):
        with pytest.raises(auth.PermissionDenied):
            auth.check_permission(nobody, "browse")
    with pytest.raises(ValueError):
        auth.check_permission(admin, "drop_everything")


def test_five_wrong_passwords_lock_the_name_and_logs_hold_no_password(app_env, auth_log):
    wrong = "Wrong-Guess-7731"
    at = _app().run()
    for _ in range(5):
        at = _sign_in(at, "vera", wrong)
    assert any("locked" in e.value.lower() for e in at.error)
    at = _sign_in(at, "vera", PASSWORDS["vera"][1])  # right password, still locked
    assert any("locked" in e.value.lower() for e in at.error)
    assert not _shows_patient_data(at)
    records = [r for r in auth_log.records if r.name == "crlm.auth"]
    messages = [r.getMessage() for r in records]
    assert sum("sign-in failed for vera" in m for m in messages) == 5
    assert any("locked" in m and "vera" in m for m in messages)
    for record in records:
        text = record.getMessage() + repr(record.args) + repr(record.__dict__)
        assert wrong not in text and PASSWORDS["vera"][1] not in text
    # other names are not affected
    at = _sign_in(at, "clara", PASSWORDS["clara"][1])
    assert any("(clinician)" in c.value for c in at.sidebar.caption)


def test_lock_expires_after_the_window():
    now = [1000.0]
    limiter = auth.SignInLimiter(max_failures=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        limiter.record_failure("X")
    assert limiter.retry_after("x") == pytest.approx(60)
    now[0] += 30
    assert limiter.retry_after("x") == pytest.approx(30)
    now[0] += 30
    assert limiter.retry_after("x") == 0
    limiter.record_failure("x")
    assert limiter.retry_after("x") == 0


def test_sign_in_function_locks_and_resets(tmp_path):
    path = tmp_path / "u.toml"
    auth.add_user(path, "ivy", "viewer", "ivy-password-123")
    limiter = auth.SignInLimiter(max_failures=2, window_s=300)
    with pytest.raises(auth.SignInFailed) as first:
        auth.sign_in(path, "ivy", "nope-nope-nope", limiter=limiter)
    assert not isinstance(first.value, auth.AccountLocked)
    with pytest.raises(auth.AccountLocked):
        auth.sign_in(path, "ivy", "nope-nope-nope", limiter=limiter)
    with pytest.raises(auth.AccountLocked):
        auth.sign_in(path, "ivy", "ivy-password-123", limiter=limiter)
    limiter.reset("ivy")
    assert auth.sign_in(path, "IVY ", "ivy-password-123", limiter=limiter).role == "viewer"


def test_argon2_hashes_are_salted(tmp_path):
    path = tmp_path / "u.toml"
    same = "same-password-for-both"
    auth.add_user(path, "ann", "viewer", same)
    auth.add_user(path, "ben", "viewer", same)
    users = auth.load_users(path)
    h1, h2 = users["ann"].password_hash, users["ben"].password_hash
    assert h1.startswith("$argon2id$") and h2.startswith("$argon2id$")
    assert h1 != h2
    assert h1.split("$")[-2] != h2.split("$")[-2]  # different salts
    assert same not in path.read_text()
    assert auth.verify(path, "ann", same) == auth.User("ann", "viewer")
    assert auth.verify(path, "ben", same) == auth.User("ben", "viewer")
    assert (path.stat().st_mode & 0o077) == 0


def test_users_file_management_validates(tmp_path):
    path = tmp_path / "u.toml"
    auth.add_user(path, "dora", "clinician", "dora-password-1")
    with pytest.raises(auth.UsersFileError, match="exists"):
        auth.add_user(path, "Dora", "viewer", "another-password")
    with pytest.raises(auth.UsersFileError, match="role"):
        auth.add_user(path, "eve", "root", "eve-password-1")
    with pytest.raises(auth.UsersFileError, match="at least"):
        auth.add_user(path, "eve", "viewer", "short")
    for hostile in ('a"]\n[users.x]\nrole="admin', "", " ", "a b", "x" * 200, "../etc"):
        with pytest.raises(auth.UsersFileError):
            auth.add_user(path, hostile, "viewer", "long-enough-password")
    auth.add_user(path, "oidc.user@hospital.org", "clinician", None)
    assert auth.verify(path, "oidc.user@hospital.org", "") is None  # no local password
    auth.set_role(path, "dora", "admin")
    assert auth.lookup_role(path, "DORA") == "admin"
    auth.remove_user(path, "dora")
    assert auth.verify(path, "dora", "dora-password-1") is None
    with pytest.raises(auth.UsersFileError, match="no user"):
        auth.set_role(path, "dora", "viewer")
    assert [u.name for u in auth.list_users(path)] == ["oidc.user@hospital.org"]


def test_users_are_frozen_records_without_password_material(tmp_path):
    path = tmp_path / "u.toml"
    auth.add_user(path, "ann", "viewer", "ann-password-123")
    auth.add_user(path, "sso@hospital.org", "clinician", None)
    user = auth.verify(path, "ann", "ann-password-123")
    assert isinstance(user, auth.User) and user.signed_in
    assert user.may("browse") and not user.may("save_case")
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.role = "admin"
    assert not any("hash" in f.name or "password" in f.name for f in dataclasses.fields(user))
    account = auth.load_users(path)["ann"]
    assert account.password_hash.startswith("$argon2id$")
    assert account.password_hash not in repr(account)
    assert auth.list_users(path) == [auth.UserListing("ann", "viewer", True),
                                     auth.UserListing("sso@hospital.org", "clinician", False)]
    assert not auth.ANONYMOUS.signed_in and not auth.ANONYMOUS.may("browse")
    text = path.read_text()  # the file format is unchanged
    assert '[users."ann"]\nrole = "viewer"\npassword_hash = "$argon2id$' in text
    assert text.endswith('[users."sso@hospital.org"]\nrole = "clinician"\n')


def test_no_users_file_explains_how_to_create_one(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("CRLM_USERS", str(tmp_path / "missing.toml"))
    at = _app().run()
    assert not at.exception, at.exception
    assert any("users add" in w.value for w in at.warning)
    assert not _shows_patient_data(at)


def test_demo_mode_on_a_synthetic_store_needs_no_sign_in(app_env, monkeypatch):
    monkeypatch.setenv("CRLM_DEMO_MODE", "1")
    at = _app().run()
    assert not at.exception, at.exception
    assert any("Demo mode, no sign-in" in i.value for i in at.sidebar.info)
    assert "Cohort" in _page_titles(at)
    assert len(at.sidebar.metric)  # the cohort is shown


def test_demo_mode_is_refused_when_the_store_holds_a_real_cohort(app_env, monkeypatch, auth_log):
    from crlm.store import Store, save_cohort, load_cohort, CohortFilter

    with Store(app_env["db"]) as store:
        frame = load_cohort(store, CohortFilter()).head(5)
        save_cohort(store, "board", frame, kind="imported", description="hospital cohort")
    monkeypatch.setenv("CRLM_DEMO_MODE", "1")
    at = _app().run()
    assert not at.exception, at.exception
    assert any("Demo mode" in e.value and "refused" in e.value for e in at.error)
    # the visitor is not signed in: the page does not name the store's cohorts; the log does
    assert not any("board" in e.value for e in at.error)
    assert "board" in auth_log.text
    assert not _shows_patient_data(at)
    assert not at.text_input  # no way around it from the page


def _all_text(at: AppTest) -> str:
    kinds = ("error", "warning", "info", "success", "markdown", "caption", "title", "code",
             "text")
    return "\n".join(str(getattr(el, "value", "")) for kind in kinds for el in at.get(kind))


def test_demo_mode_on_a_store_in_use_shows_no_admin_page_and_no_store_path(app_env,
                                                                           monkeypatch):
    import subprocess
    import sys

    holder = subprocess.Popen(  # another process holds the store open for writing
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(120)", str(app_env["db"])],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        monkeypatch.setenv("CRLM_DEMO_MODE", "1")
        at = _app().run()
    finally:
        holder.kill()
        holder.wait()
    assert not at.exception, at.exception
    assert any("Demo mode" in e.value for e in at.error)
    assert "Admin" not in _page_titles(at)
    assert not _shows_patient_data(at)
    assert str(app_env["db"]) not in _all_text(at)
    assert app_env["db"].name not in _all_text(at)


OIDC_SECRETS = {
    "redirect_uri": "https://crlm.hospital.example/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "crlm",
    "client_secret": "secret",
    "server_metadata_url": "https://idp.hospital.example/.well-known/openid-configuration",
}


def test_oidc_configured_shows_a_sign_in_button_not_the_form(app_env):
    at = _app()
    at.secrets["auth"] = OIDC_SECRETS
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception, at.exception
    assert at.button(key="auth_oidc_sign_in")
    assert not at.text_input
    assert not _shows_patient_data(at)


@pytest.mark.parametrize("email, role", [("Clara@Hospital.example", "clinician"),
                                         ("someone.else@hospital.example", "viewer")])
def test_oidc_role_comes_from_the_users_file_by_email(app_env, email, role):
    auth.add_user(app_env["users"], "clara@hospital.example", "clinician", None)
    at = _app()
    at.secrets["auth"] = OIDC_SECRETS
    at.user = {"is_logged_in": True, "email": email, "name": "Someone"}
    at.run()
    assert not at.exception, at.exception
    assert any(f"({role})" in c.value for c in at.sidebar.caption)
    titles = _page_titles(at)
    assert "Cohort" in titles and "Admin" not in titles


def test_oidc_sign_in_is_audited_once_per_session(app_env):
    from crlm.store import Store, load_audit_log
    from crlm.ui import loaders

    at = _app()
    at.secrets["auth"] = OIDC_SECRETS
    at.user = {"is_logged_in": True, "email": "Olga@Hospital.example", "name": "Olga"}
    at.run()
    at.run()  # a rerun of the same session is not a new sign-in
    assert not at.exception, at.exception
    loaders.release_stores()
    with Store(app_env["db"], create=False) as store:
        audit = load_audit_log(store)
    rows = list(zip(audit["actor"], audit["action"]))
    assert rows.count(("olga@hospital.example", "sign_in")) == 1, rows


# Streamlit's older pages-folder mode runs a file under a top-level pages/ folder
# without app.py (the first run of a fresh server process whose URL names that
# page). The views live in views/ so that mode never starts; each view still
# guards itself with ui.require_role(...) so that no way of running one alone
# shows patient data.
PAGE_FILES = sorted((APP.parent / "views").glob("*.py"))


def test_no_pages_folder_beside_app_py():
    assert not (APP.parent / "pages").exists(), (
        "a pages/ folder beside app.py turns on Streamlit's pages-folder mode, which runs a "
        "page without app.py's sign-in gate and sidebar")


@pytest.mark.parametrize("page", PAGE_FILES, ids=lambda p: p.name)
def test_a_page_run_without_app_py_shows_no_data_when_signed_out(app_env, page):
    at = AppTest.from_file(str(page), default_timeout=60).run()
    assert not _shows_patient_data(at)
    assert at.text_input(key="auth_name") is not None


def test_direct_page_run_in_demo_mode_gets_the_demo_user(app_env, monkeypatch):
    from crlm.ui import access

    monkeypatch.setenv("CRLM_DEMO_MODE", "1")
    admin = APP.parent / "views" / "admin.py"
    at = AppTest.from_file(str(admin), default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.session_state[access.SESSION_KEY].name == "demo"
