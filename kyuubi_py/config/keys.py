"""Declarations of the core configuration keys, named after Kyuubi's where Kyuubi has one.

Constant names are the UPPER_SNAKE form of Kyuubi's constants, so a search finds the same name in
both code bases. Durations are held in seconds.
"""

from __future__ import annotations

from kyuubi_py.config.entry import bool_conf, duration_conf, int_conf, seq_conf, str_conf

# -- frontend -----------------------------------------------------------------------------------
FRONTEND_THRIFT_BINARY_BIND_HOST = str_conf(
    "kyuubi.frontend.thrift.binary.bind.host",
    doc="Host name or IP address the Thrift binary (HiveServer2) frontend listens on. The "
    "gateway listens on the loopback address unless set; an engine always does.",
    default="127.0.0.1",
    since="0.1.0",
    alternatives=("kyuubi.frontend.bind.host",),
    server_only=True,
)
FRONTEND_THRIFT_BINARY_BIND_PORT = int_conf(
    "kyuubi.frontend.thrift.binary.bind.port",
    doc="Port of the Thrift binary frontend. 0 picks a free port (the default of an engine "
    "started by hand).",
    default=10009,
    since="0.1.0",
    alternatives=("kyuubi.frontend.bind.port",),
    check=lambda p: 0 <= p <= 65535,
    check_message="must be a TCP port (0-65535)",
    server_only=True,
)
FRONTEND_ADVERTISED_HOST = str_conf(
    "kyuubi.frontend.advertised.host",
    doc="Host name published in ZooKeeper for clients to connect to; the bind host when unset.",
    default=None,
    since="0.1.0",
    server_only=True,
)
FRONTEND_THRIFT_MAX_MESSAGE_SIZE = int_conf(
    "kyuubi.frontend.thrift.max.message.size",
    doc="Largest Thrift message (bytes) a client may send. A larger frame closes that "
    "connection with a logged reason.",
    default=104857600,
    since="0.1.0",
    check=lambda v: v > 0,
    check_message="must be positive",
    server_only=True,
)
FRONTEND_THRIFT_MAX_WORKER_THREADS = int_conf(
    "kyuubi.frontend.thrift.max.worker.threads",
    doc="Most client connections served at once; further connections wait in the accept backlog.",
    default=999,
    since="0.1.0",
    check=lambda v: v > 0,
    check_message="must be positive",
    server_only=True,
)
FRONTEND_THRIFT_WORKER_KEEPALIVE_TIME = duration_conf(
    "kyuubi.frontend.thrift.worker.keepalive.time",
    doc="How long a connection's thread waits for the client's next request. After that the "
    "idle connection is watched by one shared thread and its own thread ends (about 20 KB of "
    "memory per idle connection); the next request starts a new thread, which costs about "
    "0.1 ms. Kyuubi's default is PT1M, for a worker pool.",
    default=1.0,
    since="0.1.0",
    alternatives=("kyuubi.frontend.worker.keepalive.time",),
    server_only=True,
)
FRONTEND_LOGIN_TIMEOUT = duration_conf(
    "kyuubi.frontend.login.timeout",
    doc="How long a new connection may take to finish its SASL handshake (or send its first "
    "message) before it is closed.",
    default=20.0,
    since="0.1.0",
    server_only=True,
)
SERVER_THRIFT_RESULTSET_DEFAULT_FETCH_SIZE = int_conf(
    "kyuubi.server.thrift.resultset.default.fetch.size",
    doc="Default number of rows per FetchResults for clients that ask the server (returned in "
    "the OpenSession configuration as hive.server2.thrift.resultset.default.fetch.size).",
    default=1000,
    since="0.1.0",
    check=lambda v: v > 0,
    check_message="must be positive",
)

# -- authentication ---------------------------------------------------------------------------
AUTHENTICATION_METHOD = seq_conf(
    "kyuubi.authentication",
    doc="Client authentication: NONE (SASL PLAIN, any password, and NOSASL clients too), NOSASL "
    "(raw binary transport only), LDAP (SASL PLAIN checked against LDAP), CUSTOM (SASL PLAIN "
    "checked by kyuubi.authentication.custom.class).",
    default=("NONE",),
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_CUSTOM_CLASS = str_conf(
    "kyuubi.authentication.custom.class",
    doc="Dotted path (module.Class) of a password authentication provider for CUSTOM: a class "
    "with authenticate(user, password) that raises on failure.",
    default=None,
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_LDAP_URL = str_conf(
    "kyuubi.authentication.ldap.url",
    doc="Space-separated ldap:// or ldaps:// URLs of the LDAP servers, tried in order.",
    default=None,
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_LDAP_BASE_DN = str_conf(
    "kyuubi.authentication.ldap.baseDN",
    doc="Base DN for user and group searches.",
    default=None,
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_LDAP_DOMAIN = str_conf(
    "kyuubi.authentication.ldap.domain",
    doc="Domain appended as user@domain when binding directly as the user (Active Directory).",
    default=None,
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_LDAP_USER_DN_PATTERN = str_conf(
    "kyuubi.authentication.ldap.userDNPattern",
    doc="Colon-separated DN patterns with %s for the user name, e.g. "
    "uid=%s,ou=people,dc=example,dc=com.",
    default=None,
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_LDAP_GROUP_DN_PATTERN = str_conf(
    "kyuubi.authentication.ldap.groupDNPattern",
    doc="Colon-separated DN patterns with %s for a group name, used with groupFilter.",
    default=None,
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_LDAP_BIND_USER = str_conf(
    "kyuubi.authentication.ldap.binddn",
    doc="DN of the user the gateway binds as to search for users (search-then-bind).",
    default=None,
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_LDAP_BIND_PASSWORD = str_conf(
    "kyuubi.authentication.ldap.bindpw",
    doc="Password of kyuubi.authentication.ldap.binddn.",
    default=None,
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_LDAP_USER_FILTER = seq_conf(
    "kyuubi.authentication.ldap.userFilter",
    doc="Comma-separated user names allowed to log in (empty: everyone).",
    default=(),
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_LDAP_GROUP_FILTER = seq_conf(
    "kyuubi.authentication.ldap.groupFilter",
    doc="Comma-separated group names; a user must belong to one of them (empty: no check).",
    default=(),
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_LDAP_GUID_KEY = str_conf(
    "kyuubi.authentication.ldap.guidKey",
    doc="Attribute holding the user name (uid, or sAMAccountName / cn).",
    default="uid",
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_LDAP_GROUP_CLASS_KEY = str_conf(
    "kyuubi.authentication.ldap.groupClassKey",
    doc="Object class of group entries.",
    default="groupOfNames",
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_LDAP_GROUP_MEMBERSHIP_KEY = str_conf(
    "kyuubi.authentication.ldap.groupMembershipKey",
    doc="Attribute of a group entry that lists its members' DNs.",
    default="member",
    since="0.1.0",
    server_only=True,
)
AUTHENTICATION_LDAP_CUSTOM_LDAP_QUERY = str_conf(
    "kyuubi.authentication.ldap.customLDAPQuery",
    doc="An LDAP filter; when set it is the only check: the user's DN must be among its results.",
    default=None,
    since="0.1.0",
    server_only=True,
)

# -- sessions ---------------------------------------------------------------------------------
SESSION_IDLE_TIMEOUT = duration_conf(
    "kyuubi.session.idle.timeout",
    doc="A session with no call and no running operation for this long is closed.",
    default=6 * 3600.0,
    since="0.1.0",
    alternatives=("kyuubi.session.timeout",),
)
SESSION_CHECK_INTERVAL = duration_conf(
    "kyuubi.session.check.interval",
    doc="How often idle sessions and operations are looked for.",
    default=300.0,
    since="0.1.0",
)
SESSION_CLOSE_ON_DISCONNECT = bool_conf(
    "kyuubi.session.close.on.disconnect",
    doc="Close a client's sessions when its connection drops.",
    default=True,
    since="0.1.0",
    server_only=True,
)
SESSION_CONF_RESTRICT_LIST = seq_conf(
    "kyuubi.session.conf.restrict.list",
    doc="Keys a client may not set in its session conf; the connection is refused with an "
    "error. A trailing .* makes an entry a prefix.",
    default=(),
    since="0.1.0",
    server_only=True,
)
SESSION_CONF_IGNORE_LIST = seq_conf(
    "kyuubi.session.conf.ignore.list",
    doc="Keys dropped silently from a client's session conf. A trailing .* makes an entry a "
    "prefix.",
    default=(),
    since="0.1.0",
    server_only=True,
)
SESSION_CONF_ADMIN_ALLOW_LIST = seq_conf(
    "kyuubi.session.conf.admin.allow.list",
    doc="Launch-time or code-execution keys (normally always refused, such as "
    "spark.driver.extraJavaOptions or kyuubi.engine.share.level) that clients may set anyway.",
    default=(),
    since="0.1.0",
    server_only=True,
)
SESSION_ENGINE_INITIALIZE_TIMEOUT = duration_conf(
    "kyuubi.session.engine.initialize.timeout",
    doc="How long OpenSession waits for a new engine to start and register.",
    default=180.0,
    since="0.1.0",
)
SESSION_ENGINE_IDLE_TIMEOUT = duration_conf(
    "kyuubi.session.engine.idle.timeout",
    doc="An engine with no session for this long stops and deregisters (0 or less: never).",
    default=1800.0,
    since="0.1.0",
)
SESSION_ENGINE_CHECK_INTERVAL = duration_conf(
    "kyuubi.session.engine.check.interval",
    doc="How often an engine checks whether it has been idle too long.",
    default=60.0,
    since="0.1.0",
)
SESSION_ENGINE_STARTUP_MAX_LOG_LINES = int_conf(
    "kyuubi.session.engine.startup.maxLogLines",
    doc="Lines of the engine log quoted in the error when an engine fails to start.",
    default=10,
    since="0.1.0",
    check=lambda v: v > 0,
    check_message="must be positive",
)

# -- operations -------------------------------------------------------------------------------
OPERATION_IDLE_TIMEOUT = duration_conf(
    "kyuubi.operation.idle.timeout",
    doc="A finished operation not touched for this long is closed.",
    default=3 * 3600.0,
    since="0.1.0",
)
OPERATION_QUERY_TIMEOUT = duration_conf(
    "kyuubi.operation.query.timeout",
    doc="Upper bound on every statement's run time; a client's queryTimeout can only lower it.",
    default=None,
    since="0.1.0",
)
OPERATION_STATUS_POLLING_TIMEOUT = duration_conf(
    "kyuubi.operation.status.polling.timeout",
    doc="How long GetOperationStatus waits for a running operation to finish before answering "
    "(a long poll, so JDBC's sleep-less status loop does not spin).",
    default=5.0,
    since="0.1.0",
)
OPERATION_INCREMENTAL_COLLECT = bool_conf(
    "kyuubi.operation.incremental.collect",
    doc="Stream results partition by partition instead of collecting them whole, so a result "
    "of any size fits in bounded engine memory.",
    default=False,
    since="0.1.0",
    alternatives=("kyuubi.engine.spark.operation.incremental.collect",),
)
OPERATION_RESULT_MAX_FETCH_ROWS = int_conf(
    "kyuubi.operation.result.max.fetch.rows",
    doc="Most rows one FetchResults returns, whatever maxRows the client asks for (keeps every "
    "reply well under the 100 MiB limit of Java clients).",
    default=100000,
    since="0.1.0",
    check=lambda v: v > 0,
    check_message="must be positive",
)
OPERATION_LOG_ENABLED = bool_conf(
    "kyuubi.operation.log.enabled",
    doc="Keep a log per operation, served by FetchResults(fetchType=1).",
    default=True,
    since="0.1.0",
)
EXEC_POOL_SIZE = int_conf(
    "kyuubi.backend.engine.exec.pool.size",
    doc="Threads running asynchronous statements in an engine.",
    default=100,
    since="0.1.0",
    check=lambda v: v > 0,
    check_message="must be positive",
)

# -- engine -----------------------------------------------------------------------------------
ENGINE_SHARE_LEVEL = str_conf(
    "kyuubi.engine.share.level",
    doc="Who shares an engine: CONNECTION (one per session), USER, GROUP (the user's primary "
    "group) or SERVER (everyone).",
    default="USER",
    since="0.1.0",
    alternatives=("kyuubi.session.engine.share.level",),
    choices=("CONNECTION", "USER", "GROUP", "SERVER"),
    upper=True,
)
ENGINE_SHARE_LEVEL_SUBDOMAIN = str_conf(
    "kyuubi.engine.share.level.subdomain",
    doc="Separates engines of one user (or group) into named subdomains.",
    default=None,
    since="0.1.0",
    alternatives=("kyuubi.engine.share.level.sub.domain",),
)
ENGINE_POOL_SIZE = int_conf(
    "kyuubi.engine.pool.size",
    doc="Number of engines in a user's pool (-1: no pool). Ignored with a subdomain or the "
    "CONNECTION share level.",
    default=-1,
    since="0.1.0",
)
ENGINE_POOL_SIZE_THRESHOLD = int_conf(
    "kyuubi.engine.pool.size.threshold",
    doc="Upper bound of kyuubi.engine.pool.size.",
    default=9,
    since="0.1.0",
    server_only=True,
)
ENGINE_POOL_NAME = str_conf(
    "kyuubi.engine.pool.name",
    doc="Prefix of the subdomains of pool members (<name>-<index>).",
    default="engine-pool",
    since="0.1.0",
)
ENGINE_POOL_SELECT_POLICY = str_conf(
    "kyuubi.engine.pool.selectPolicy",
    doc="How a pool member is chosen: RANDOM, POLLING (round robin through a ZooKeeper "
    "counter) or LEAST_SESSIONS (the member with the fewest open sessions).",
    default="RANDOM",
    since="0.1.0",
    choices=("RANDOM", "POLLING", "LEAST_SESSIONS"),
    upper=True,
)
ENGINE_SECRET_ENV = "KYUUBI_ENGINE_SECRET"
ENGINE_SECRET_FILE = str_conf(
    "kyuubi.engine.secret.file",
    doc="File holding the secret an engine requires from its clients (its gateway). The secret "
    "can also come from the KYUUBI_ENGINE_SECRET environment variable; never from the command "
    "line.",
    default=None,
    since="0.1.0",
    server_only=True,
)
ENGINE_REF_ID = str_conf(
    "kyuubi.engine.ref.id",
    doc="Set by the gateway: the id an engine registers with, so the gateway finds the engine "
    "it launched.",
    default=None,
    since="0.1.0",
    alternatives=("kyuubi.ha.engine.ref.id",),
    server_only=True,
)
ENGINE_USER = str_conf(
    "kyuubi.engine.user",
    doc="Set by the gateway: the user (or group) an engine serves; part of its ZooKeeper path.",
    default=None,
    since="0.1.0",
    server_only=True,
)
SPARK_MASTER = str_conf(
    "spark.master",
    doc="Where engines run: local[*] (default), spark://host:port, yarn or k8s://....",
    default="local[*]",
    since="0.1.0",
)
