"""Core's app factory: the only place its objects are wired."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from services.common.auth.live import LiveAuthentication
from services.common.auth.passwords import CredentialCache, PasswordHasher
from services.common.cache import CORE_LISTENER, ChangeListener, LookupCache
from services.common.config.live import SystemConfig
from services.common.db import Database
from services.common.errors import error_middleware, harbor_envelope
from services.common.events.backlog import OutboxMetrics
from services.common.events.relay import Relay
from services.common.identity.access_cache import AccessLookup
from services.common.identity.bootstrap import DefaultPasswordCheck, bootstrap_lifespan
from services.common.jobs.gc import parse_gc_params
from services.common.jobs.models import GARBAGE_COLLECTION, PURGE_AUDIT_LOG
from services.common.jobs.pools import PoolBoard
from services.common.jobs.purge_audit import parse_purge_params
from services.common.jobs.queue import JobQueue
from services.common.jobs.submit import JobSubmitter
from services.common.ldap.directory import Directory
from services.common.ldap.ldap3_directory import Ldap3Directory
from services.common.logging import request_context
from services.common.metrics import RequestMetricNames, ServiceMetrics, route_pattern
from services.common.redis import RedisClient
from services.common.secret_key import SecretKeyFile
from services.common.settings import Settings
from services.core.api import setup_routes
from services.core.api.accessories import AccessoriesApi
from services.core.api.artifacts import ArtifactsApi
from services.core.api.audit import AuditApi
from services.core.api.body import MAX_BODY_BYTES
from services.core.api.configurations import ConfigurationsApi
from services.core.api.icons import IconsApi
from services.core.api.immutable import ImmutableRulesApi
from services.core.api.jobservice import JobMonitorApi
from services.core.api.labels import LabelsApi
from services.core.api.ldap import LdapApi
from services.core.api.login import LoginApi
from services.core.api.members import MembersApi
from services.core.api.project_artifacts import ProjectArtifactsApi
from services.core.api.project_metadata import ProjectMetadataApi
from services.core.api.projects import ProjectsApi
from services.core.api.quotas import QuotasApi
from services.core.api.registries import RegistriesApi
from services.core.api.replication_executions import ReplicationExecutionsApi
from services.core.api.replication_policies import ReplicationPoliciesApi
from services.core.api.repositories import RepositoriesApi
from services.core.api.retention import RetentionApi
from services.core.api.robots import RobotsApi
from services.core.api.spec import SpecApi, load_spec
from services.core.api.statistics import StatisticsApi
from services.core.api.system import SystemApi
from services.core.api.system_jobs import SystemJobsApi
from services.core.api.user_permissions import UserPermissionsApi
from services.core.api.usergroups import UserGroupsApi
from services.core.api.users import UsersApi
from services.core.api.webhooks import WebhooksApi
from services.core.artifacts.repository_service import RepositoryService
from services.core.artifacts.service import ArtifactService
from services.core.audit.consumer import AuditConsumer
from services.core.audit.forward import AuditForwarder
from services.core.audit.models import EVENT_TYPES
from services.core.audit.service import AuditService
from services.core.auditing import AuditLog
from services.core.configuration.service import ConfigService
from services.core.errors import MethodNotAllowed, NotFound
from services.core.icons.service import IconService
from services.core.immutable.service import ImmutableRuleService
from services.core.jobs.monitor import JobMonitor
from services.core.jobs.service import SystemJobs
from services.core.labels.service import LabelService
from services.core.ldap.service import LdapService
from services.core.members.service import MemberService
from services.core.permissions.service import PermissionService
from services.core.project_metrics import ProjectMetrics
from services.core.projects.metadata import ProjectMetadataService
from services.core.projects.service import ProjectService
from services.core.quotas.service import QuotaService
from services.core.registries.health import RegistryHealthCheck
from services.core.registries.probe import RemoteProbe
from services.core.registries.service import RegistryService
from services.core.replication.executions import ReplicationExecutionService
from services.core.replication.service import ReplicationPolicyService
from services.core.retention.service import RetentionService
from services.core.robots.service import RobotService
from services.core.security.authenticators import BasicAuthenticator, RequestAuthenticator
from services.core.security.csrf import csrf_protection
from services.core.security.middleware import authentication
from services.core.security.session import SessionAuthenticator
from services.core.sessions.service import SessionService, SessionStore
from services.core.statistics.service import StatisticsService
from services.core.system import SystemService
from services.core.ui.explorer import ApiExplorer
from services.core.ui.views import UiFiles, no_challenge_for_scripts, setup_ui_routes, ui_fallback
from services.core.usergroups.service import UserGroupService
from services.core.users.service import UserService
from services.core.webhooks.service import WebhookPolicyService


def create_app(
    settings: Settings,
    *,
    hasher: PasswordHasher | None = None,
    extra_authenticators: Sequence[RequestAuthenticator] = (),
    directory: Directory | None = None,
) -> web.Application:
    db = Database(settings.database)
    # berth.yml's defaults under what an administrator changed at run time, kept current by notifications.
    config = SystemConfig(settings, db)
    # The audit log's forwarding and skip flag, in one object a later configuration change can update.
    forwarder = AuditForwarder(settings.audit_log_forward_endpoint, skip_database=settings.skip_audit_log_database)
    audit = AuditLog(db, forwarder)
    config.on_change(
        lambda values: forwarder.configure(values["audit_log_forward_endpoint"], values["skip_audit_log_database"])
    )
    hasher = hasher or PasswordHasher()
    cache = CredentialCache()
    redis = RedisClient(settings.redis)
    # The token service's authenticators, built the same way and rebuilt alike when auth_mode, ldap_* or
    # robot_name_prefix change: in ldap_auth mode directory users log in here too (Basic and /c/login),
    # through the one directory the LDAP and usergroups APIs use.
    # Uncached here (unlike the token service): an API client that changes a membership or a password and
    # at once calls again with Basic must see its own write, not wait for the change's notification.
    access = AccessLookup(db, settings.database, "berth-core-access", max_bytes=0)
    live = LiveAuthentication(settings, db, access, hasher, cache, directory=directory)
    config.on_change(live.configure)
    credentials = live.authentication
    sessions = SessionService(db, credentials, SessionStore(redis, config), audit)
    # First match wins, then anonymous. The session cookie before Basic: a browser holding a session
    # is that session (and so CSRF-checked); a stale cookie falls through to Basic, then anonymous.
    authenticators: list[RequestAuthenticator] = [
        *extra_authenticators,
        SessionAuthenticator(sessions),
        BasicAuthenticator(credentials),
    ]
    projects = ProjectService(db, audit, config)
    # Artifact list pages, kept exact by the database's change notifications (off without the listener).
    list_cache = LookupCache(settings.core.cache_mb * 1024 * 1024)
    users = UserService(db, audit, hasher, config=config)

    # Shared by the start-up warning (bootstrap) and systeminfo, so the KDF runs once per stored hash.
    default_password = DefaultPasswordCheck(hasher)
    ui = UiFiles()

    metrics = ServiceMetrics(settings.metric, "core", settings.core.host)
    metrics.cache_lookups({"artifact_lists": list_cache, "credentials": cache})
    app = web.Application(
        middlewares=[
            # First, so every line logged below carries the request id (and the access line is written).
            request_context("core"),
            # Harbor's names; the operation is the route's pattern (bounded), never the path.
            *metrics.requests(CORE_REQUESTS, route_pattern),
            # Outside the error middleware, to see the 401 it rendered (with its Basic challenge).
            no_challenge_for_scripts(),
            # Before authentication, so a 401 for wrong credentials is rendered in Harbor's envelope too.
            error_middleware(
                harbor_envelope,
                not_found=lambda r: NotFound(f"no API endpoint at {r.path[:200]}"),
                method_not_allowed=lambda r: MethodNotAllowed(f"{r.method} is not supported on {r.path[:200]}"),
            ),
            # Inside the error middleware, to see the router's bare 404 before it becomes JSON: an unknown
            # GET outside /api/ and /c/ is a deep link into the UI and gets its page.
            ui_fallback(ui),
            # Every handler receives a Principal (anonymous when nothing was presented).
            authentication(authenticators),
            # After authentication: whether the check applies depends on *how* the request was
            # authenticated (session cookie: yes; Basic: no). Inside the error middleware, so its 403
            # is rendered in Harbor's envelope.
            csrf_protection(),
        ],
        client_max_size=MAX_BODY_BYTES,
    )
    labels = LabelService(db, projects, list_cache, audit)
    artifacts = ArtifactService(db, projects, labels, list_cache, config)
    # Jobs are rows the jobservice runs; core submits them (row, then id on the Redis stream).
    submitter = JobSubmitter(db, JobQueue(redis), max_attempts=settings.jobservice.max_attempts)
    event_types = frozenset(EVENT_TYPES)
    purge = SystemJobs(
        db, submitter, PURGE_AUDIT_LOG, "purge-audit", lambda p: parse_purge_params(p, event_types).to_json()
    )
    gc = SystemJobs(db, submitter, GARBAGE_COLLECTION, "garbage-collection", lambda p: parse_gc_params(p).to_json())
    # Registry endpoints' passwords and webhook targets' secrets are stored encrypted with the secret key file
    # (created at start when absent).
    secret_key = SecretKeyFile(settings.secret_key_file, create=True)
    registries = RegistryService(db, secret_key, RemoteProbe())
    retention = RetentionService(db, projects, submitter)
    setup_routes(
        app,
        [
            SystemApi(SystemService(db, settings, config, default_password)),
            ConfigurationsApi(ConfigService(db, config, audit)),
            LoginApi(sessions),
            UsersApi(users),
            UserPermissionsApi(PermissionService(db, projects)),
            ProjectsApi(projects, retention),
            ProjectMetadataApi(ProjectMetadataService(db, projects, audit)),
            MembersApi(MemberService(db, projects, audit)),
            RobotsApi(RobotService(db, projects, audit, hasher, config=config)),
            UserGroupsApi(UserGroupService(db, live.directory, audit, ldap_auth=live.ldap_auth)),
            LdapApi(LdapService(db, live.directory, live.ldap, ldap_auth=live.ldap_auth, connect=Ldap3Directory)),
            AuditApi(AuditService(db, projects)),
            RepositoriesApi(RepositoryService(db, projects, list_cache, config)),
            ArtifactsApi(artifacts),
            ProjectArtifactsApi(artifacts),
            AccessoriesApi(artifacts),
            IconsApi(IconService(db)),
            LabelsApi(labels),
            ImmutableRulesApi(ImmutableRuleService(db, projects, list_cache, audit)),
            StatisticsApi(StatisticsService(db, projects)),
            QuotasApi(QuotaService(db)),
            RetentionApi(retention),
            RegistriesApi(registries),
            ReplicationPoliciesApi(ReplicationPolicyService(db, settings.public_url())),
            ReplicationExecutionsApi(ReplicationExecutionService(db, submitter)),
            WebhooksApi(WebhookPolicyService(db, projects, config, secret_key)),
            SystemJobsApi(purge, "/system/purgeaudit", "purge_id"),
            SystemJobsApi(gc, "/system/gc", "gc_id"),
            JobMonitorApi(JobMonitor(db, PoolBoard(redis))),
            # Berth's own OpenAPI document, read once here (services/core/api/spec/berth-api.yaml).
            SpecApi(load_spec()),
        ],
    )
    setup_ui_routes(app, ui)
    # Harbor's /devcenter-api-2.0: Swagger UI (PyPI swagger-ui-bundle) on /api/v2.0/swagger.json.
    app.router.add_routes(ApiExplorer().routes())
    app.cleanup_ctx.append(metrics.lifespan)
    project_metrics = ProjectMetrics(metrics, db, every_s=settings.metric.refresh_seconds)
    outbox_metrics = OutboxMetrics(metrics, db, every_s=settings.metric.refresh_seconds)
    app.cleanup_ctx.extend(
        [
            # First, so it closes last: what the others record at shutdown still goes out.
            forwarder.lifespan,
            secret_key.lifespan,
            db.lifespan,
            config.lifespan,
            redis.lifespan,
            bootstrap_lifespan(db, settings, hasher, default_password),
            AuditConsumer(db, redis, forwarder).lifespan,
            # Core writes events too (API deletes, tags, copies): relayed even with no registry running.
            Relay(db, redis, settings.database).lifespan,
            RegistryHealthCheck(registries, settings.core.registry_health_check_seconds).lifespan,
            # After the pool: they read the project tables and the outbox.
            project_metrics.lifespan,
            outbox_metrics.lifespan,
        ]
    )
    if settings.core.cache_mb > 0:
        app.cleanup_ctx.append(ChangeListener(settings.database, list_cache, CORE_LISTENER).lifespan)
    return app


CORE_REQUESTS = RequestMetricNames(
    "harbor_core_http_request_total",
    "The total number of requests",
    "harbor_core_http_request_duration_seconds",
    "The time duration of the requests",
    route_label="operation",
)
