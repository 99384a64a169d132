"""``OmePrivacy``: the extension object the host creates, registers sources on, and initialises.

Per-app state (the database, the purposes register built from that app's config) lives in
``app.extensions["ome_privacy"]``, so two apps in one process never mix. What the host
hands in through callbacks and registrations (data sources, who is staff, how a user
signs in) belongs to the extension object, like Flask-Login's ``user_loader``: register
them once, at import time, next to ``privacy = OmePrivacy()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from flask import Flask, current_app
from sqlalchemy.orm import Session

from . import audit, consents, jobs, mail, notify, provisions, reauth, stops
from .cli import privacy_cli
from .config import apply_defaults, config_value
from .i18n import gettext, setup_babel
from .models import AuditEvent, ConsentRecord, Notification, ProvisionRecord
from .purposes import ConsentAsk, PurposeRegister
from .sources import DataSource, SourceRegistry
from .state import EXTENSION_KEY, PrivacyState, current_privacy, current_state, get_state, user_id_of
from .views import build_assets_blueprint, install_template_context, register_blueprints, security_headers

# The lookups live in state.py; they are re-exported here for hosts that imported them from here.
__all__ = ["OmePrivacy", "PrivacyState", "EXTENSION_KEY", "get_state", "current_privacy", "user_id_of"]

SourceT = TypeVar("SourceT", bound=type[DataSource])
Loader = TypeVar("Loader", bound=Callable[..., Any])


class OmePrivacy:
    """The privacy center, rights requests and staff queue for one or more Flask apps.

    ``OmePrivacy(app, db=db)`` or ``OmePrivacy()`` then ``init_app(app, db=db)``.
    """

    def __init__(
        self, app: Flask | None = None, *, db: Any = None, sources: Iterable[DataSource] = ()
    ) -> None:
        self.db = db
        self.sources = SourceRegistry()
        self.tasks = jobs.TaskRegistry()
        for source in sources:
            self.register_source(source)
        self._staff_loader: Callable[[Any], bool] | None = None
        self._sign_in_methods_loader: Callable[[Any], Iterable[str]] | None = None
        self._locale_loader: Callable[[], str | None] | None = None
        self._user_loader: Callable[[str], Any] | None = None
        self._user_lookup: Callable[[str], Iterable[tuple[Any, str]]] | None = None
        self._account_deleted: Callable[[Any], Any] | None = None
        self._staff_names: Callable[[list[str]], Mapping[Any, Any]] | None = None
        self._staff_members: Callable[[], Iterable[tuple[Any, Any]]] | None = None
        if app is not None:
            self.init_app(app, db=db)

    # --- set-up ----------------------------------------------------------------------
    def init_app(self, app: Flask, *, db: Any = None) -> None:
        """Register on ``app``. Reads every ``OME_PRIVACY_*`` key (see config.py and README)."""
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                "flask-ome-privacy is already registered on this app. Call init_app once per app."
            )
        db = db if db is not None else self.db
        if db is None:
            raise RuntimeError(
                "flask-ome-privacy needs the host's Flask-SQLAlchemy object: init_app(app, db=db)."
            )
        apply_defaults(app)
        jobs.validate_config(app)
        purposes = PurposeRegister.from_defaults(app.config["OME_PRIVACY_PURPOSES"])
        app.extensions[EXTENSION_KEY] = PrivacyState(extension=self, app=app, db=db, purposes=purposes)
        setup_babel(app, lambda: self._locale_loader() if self._locale_loader else None)
        reauth.init_app(app)  # sign-in times, for OME_PRIVACY_REAUTH_SECONDS
        mail.check_config(app)  # mail settings that cannot work fail now, not at the first request
        app.register_blueprint(build_assets_blueprint())
        # App-wide, so our templates render from a host's own views with the blueprints off.
        install_template_context(app)
        if app.config["OME_PRIVACY_REGISTER_BLUEPRINTS"]:
            register_blueprints(app)
        app.cli.add_command(privacy_cli, "ome-privacy")

    # --- per-app state -----------------------------------------------------------------
    @property
    def state(self) -> PrivacyState:
        return current_state()

    @property
    def purposes(self) -> PurposeRegister:
        return self.state.purposes

    @property
    def session(self) -> Session:
        return self.state.session

    # --- what the host hands in -------------------------------------------------------
    def register_source(self, source: DataSource) -> DataSource:
        """Add a data source. Keys are unique; register each once per extension object."""
        return self.sources.register(source)

    def source(self, cls: SourceT) -> SourceT:
        """Class decorator: ``@privacy.source`` registers an instance of the class."""
        self.register_source(cls())
        return cls

    def task(self, name: str) -> Callable[[Loader], Loader]:
        """Decorator: register a background job ``func(session, *, ids..., language)`` (jobs.py).

        Arguments are ids and a language only; the job must be idempotent. Register it at
        import time, like sources, so the worker process (``flask ome-privacy worker``) has it.
        """
        return self.tasks.task(name)

    def enqueue(self, name: str, /, **arguments: Any) -> None:
        """Run task ``name`` after the current transaction commits (inline, or on RQ); see jobs.py."""
        jobs.enqueue(current_state().app, name, **arguments)

    def staff_loader(self, func: Loader) -> Loader:
        """``@privacy.staff_loader``: ``func(user) -> bool`` says who works the privacy desk."""
        self._staff_loader = func
        return func

    def sign_in_methods_loader(self, func: Loader) -> Loader:
        """``func(user) -> set[str]``: how ``user`` can sign in, e.g. ``{"password", "facebook"}``.

        The SNS withdrawal uses it so nobody removes their only way in.
        """
        self._sign_in_methods_loader = func
        return func

    def locale_loader(self, func: Loader) -> Loader:
        """``func() -> "ja" | "en" | None``: the host's language choice (when we set up Babel)."""
        self._locale_loader = func
        return func

    def user_loader(self, func: Loader) -> Loader:
        """``func(user_id: str) -> user``; defaults to Flask-Login's user loader."""
        self._user_loader = func
        return func

    def user_lookup(self, func: Loader) -> Loader:
        """``@privacy.user_lookup``: ``func(query) -> [(user_id, label), ...]`` finds accounts by
        email or user id, for staff registering a request that came by post (we cannot read
        the host's user table). ``label`` is what staff see to tell people apart (e.g. the email)."""
        self._user_lookup = func
        return func

    @property
    def can_look_up_users(self) -> bool:
        return self._user_lookup is not None

    def lookup_users(self, query: str) -> list[tuple[str, str]]:
        """The host's matches for ``query`` as ``(user_id, label)``; empty without a lookup."""
        query = query.strip()
        if self._user_lookup is None or not query:
            return []
        return [(str(user_id), str(label)) for user_id, label in self._user_lookup(query)]

    def staff_names(self, func: Loader) -> Loader:
        """``@privacy.staff_names``: ``func(ids: list[str]) -> {id: display name}`` names staff
        members on the desk's pages (assignee, who verified, decided, approved, the timeline
        and the audit trail). Called once per page with every staff id on it, so one query
        serves the page. Ids it leaves out are shown as "Staff #<id>". Requesters never see
        these names: their pages say "our staff"."""
        self._staff_names = func
        return func

    def staff_members(self, func: Loader) -> Loader:
        """``@privacy.staff_members``: ``func() -> [(id, display name), ...]``, everyone who works
        the desk. With it the queue offers staff by name to assign a request to and to filter
        by; without it staff type a user id. Called once per queue page."""
        self._staff_members = func
        return func

    def list_staff(self) -> list[tuple[str, str]]:
        """``(id, name)`` of every staff member, by name; empty when the host has no
        ``staff_members`` hook (the queue then asks for a user id)."""
        if self._staff_members is None:
            return []
        members = [(str(staff_id), str(name or "").strip()) for staff_id, name in self._staff_members()]
        return sorted(
            ((staff_id, name or gettext("Staff #%(id)s", id=staff_id)) for staff_id, name in members),
            key=lambda member: member[1],
        )

    def names_of_staff(self, ids: Iterable[Any]) -> dict[str, str]:
        """``{id: name}`` for every non-empty id given, from one call of the host's
        ``staff_names`` hook; "Staff #<id>" (translated) where the host names nobody."""
        wanted = sorted({str(i) for i in ids if i is not None and str(i)})
        found: Mapping[Any, Any] = {}
        if wanted and self._staff_names is not None:
            found = {str(k): v for k, v in (self._staff_names(wanted) or {}).items()}
        names = {}
        for staff_id in wanted:
            name = str(found.get(staff_id) or "").strip()
            names[staff_id] = name or gettext("Staff #%(id)s", id=staff_id)
        return names

    # --- asking the host ---------------------------------------------------------------
    def is_staff(self, user: Any) -> bool:
        if user is None or not getattr(user, "is_authenticated", False):
            return False
        if self._staff_loader is None:
            return bool(getattr(user, "is_privacy_staff", False))
        return bool(self._staff_loader(user))

    def sign_in_methods(self, user: Any) -> set[str]:
        if self._sign_in_methods_loader is None:
            return set(getattr(user, "privacy_sign_in_methods", ()) or ())
        return set(self._sign_in_methods_loader(user))

    def load_user(self, user_id: str) -> Any:
        if self._user_loader is not None:
            return self._user_loader(user_id)
        login_manager = getattr(current_app, "login_manager", None)
        callback = getattr(login_manager, "user_callback", None)
        if callback is None:
            raise RuntimeError("Register @privacy.user_loader or a Flask-Login user_loader.")
        return callback(user_id)

    # --- host-side API --------------------------------------------------------------------
    def may_use(self, user: Any, purpose_key: str, *, today: date | None = None) -> bool:
        """May ``user``'s data be used for ``purpose_key``? (policy Art. 2)

        Baseline purposes: always. Purposes the host added (``OME_PRIVACY_PURPOSES``) on
        directly obtained data: only once the user granted consent to the current wording
        (version). Added purposes on other data: from their ``added_on`` date. An unknown
        key raises ``UnknownPurposeError`` (a ``ValueError``): a typo must not look like
        a refusal. A decided "stop using" request makes it no. ``today`` defaults to
        ``self.today()``. At most two queries.
        """
        allowed = consents.may_use(
            self.session, self.purposes, user_id_of(user), purpose_key, today or self.today()
        )
        # A decided "stop using" request (APPI Art. 35) overrides every rule above.
        return allowed and not stops.use_stopped(self.session, user_id_of(user), purpose_key)

    def users_who_may_use(
        self, purpose_key: str, user_ids: Iterable[Any], *, today: date | None = None
    ) -> set[Any]:
        """Bulk ``may_use``: the subset of ``user_ids`` (the host's ids, returned as given)
        whose data may be used for ``purpose_key``. One query per 500 ids."""
        allowed = consents.users_who_may_use(
            self.session, self.purposes, purpose_key, user_ids, today or self.today()
        )
        if not allowed:
            return allowed
        stopped = stops.users_with_use_stopped(self.session, purpose_key, (str(i) for i in allowed))
        return {i for i in allowed if str(i) not in stopped}

    def pending_consents(self, user: Any) -> list[ConsentAsk]:
        """The consent asks ``user`` has not answered at the current wording (``ConsentAsk`` list)."""
        return consents.pending_asks(self.session, self.purposes, user_id_of(user))

    def record_consent(self, user: Any, purpose_key: str, *, granted: bool) -> ConsentRecord:
        """Record a consent decision the host obtained itself (e.g. a sign-up checkbox showing
        the purpose's current text). Added to the current transaction; the host commits."""
        return consents.record_decision(
            self.session,
            self.purposes,
            user_id=user_id_of(user),
            purpose_key=purpose_key,
            granted=granted,
            actor_role="host",
        )

    def today(self) -> date:
        """Today in the host's time zone (Flask-Babel's ``BABEL_DEFAULT_TIMEZONE``, else UTC):
        the day purpose dates (``added_on``) are compared with."""
        return self.state.today()

    def record_provision(
        self,
        user: Any,
        recipient: str,
        categories: Iterable[str],
        *,
        purpose: str | None = None,
        provided_at: datetime | None = None,
    ) -> ProvisionRecord:
        """Record that ``user``'s data in ``categories`` was provided to ``recipient`` (Art. 1.3).

        Added to the current transaction; the host commits it with its own work.
        """
        return provisions.record_provision(
            self.session,
            self.purposes,
            user_id=user_id_of(user),
            recipient=recipient,
            categories=list(categories),
            purpose=purpose,
            provided_at=provided_at,
        )

    def audit(
        self, action: str, *, actor: Any = None, actor_role: str = "system", **fields: Any
    ) -> AuditEvent:
        """Append an audit event in the current transaction (ids and codes only)."""
        return audit.append(
            self.session,
            action,
            actor_id=user_id_of(actor) if actor is not None else None,
            actor_role=actor_role,
            **fields,
        )

    def notify(
        self,
        user: Any,
        kind: str,
        subject: str,
        *,
        body: str = "",
        params: dict[str, Any] | None = None,
        link: str | None = None,
        link_endpoint: str | None = None,
        link_values: dict[str, Any] | None = None,
        commit: bool = True,
    ) -> Notification:
        """Leave ``user`` an in-app notification, shown in their language when they read it.

        ``subject``/``body`` are message ids marked with ``N_`` (translated on display),
        ``params`` fill their ``%(name)s`` placeholders. With ``commit=True`` (default) it is
        committed and ``signals.notification_created`` is sent; with ``commit=False`` it joins
        the current transaction and the host calls ``notify.announce(n)`` after committing.
        Link with ``link_endpoint`` + ``link_values`` (built into a URL when shown; survives a
        changed URL prefix) or a plain ``link`` path.
        """
        create = notify.send if commit else notify.add
        return create(
            self.session,
            user_id_of(user),
            kind,
            subject,
            body=body,
            params=params,
            link=link,
            link_endpoint=link_endpoint,
            link_values=link_values,
        )

    def config(self, key: str) -> Any:
        return config_value(key)

    def security_headers(self, response: Any) -> Any:
        """Add our security headers (``OME_PRIVACY_SECURITY_HEADERS``) to ``response`` where it has
        none of its own: ``app.after_request(privacy.security_headers)`` gives a host's own pages
        the policy our pages send."""
        return security_headers(response)

    # --- stops and account deletion (the staff desk's execution) ---------------------------
    def may_provide(self, user: Any, recipient: str) -> bool:
        """May ``user``'s data be provided to ``recipient``? No once a decided "stop providing to
        third parties" request covers that recipient (or every recipient; APPI Art. 35(3)).
        ``record_provision`` refuses (``ProvisionStopped``) where this says no. One query."""
        return not stops.provision_stopped(self.session, user_id_of(user), recipient)

    def account_deleted(self, func: Loader) -> Loader:
        """``@privacy.account_deleted``: ``func(user)`` runs when the desk carries out the deletion
        of a whole account, inside the same transaction (flush, do not commit). End the person's
        sessions there, e.g. rotate their session token."""
        self._account_deleted = func
        return func

    def on_account_deleted(self, user: Any) -> None:
        """Call the host's ``account_deleted`` hook (execution.py does, once per run)."""
        if self._account_deleted is not None:
            self._account_deleted(user)
