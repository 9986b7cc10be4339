"""A private OpenLDAP ``slapd`` for tests: throwaway cn=config in a temp dir, a free port, no root.

The recipe is reference/reliability.md section 3.1 (the python-ldap ``slapdtest`` approach):
``slapadd -n0`` a cn=config LDIF, run ``slapd -d 0`` in the foreground as our child, wait with
``ldapwhoami``, ``ldapadd`` the directory as the rootdn. ``ldapi://`` with peer credentials lets
the test change cn=config at runtime (``olcAllows: bind_anon_dn``) without a restart.

Directory (suffix ``dc=example,dc=com``)::

    ou=people    uid=alice, uid=bob, uid=carol, uid=Dave   (inetOrgPerson)
    ou=groups    cn=analysts (alice, bob), cn=engineers (carol)   (groupOfNames)
    ou=services  cn=gateway   (the bind user of search-then-bind mode)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SUFFIX = "dc=example,dc=com"
ADMIN_DN = f"cn=admin,{SUFFIX}"
PEOPLE_DN = f"ou=people,{SUFFIX}"
GROUPS_DN = f"ou=groups,{SUFFIX}"
SERVICES_DN = f"ou=services,{SUFFIX}"
BIND_DN = f"cn=gateway,{SERVICES_DN}"

#: uid -> password. ``Dave`` is stored capitalized to prove the directory's spelling wins.
USERS = {
    "alice": "alice-Secret-1",
    "bob": "bob-Secret-2",
    "carol": "carol-Secret-3",
    "Dave": "dave-Secret-4",
}
#: group cn -> member uids.
GROUPS = {"analysts": ("alice", "bob"), "engineers": ("carol",)}

_SCHEMA_DIR = Path("/etc/ldap/schema")
_MODULE_DIR = Path("/usr/lib/ldap")
_TOOLS = ("slapd", "slapadd", "ldapadd", "ldapmodify", "ldapwhoami")
_MISSING_HINT = (
    "OpenLDAP is required for the LDAP tests: {missing} not found. `.ci/run` installs it "
    "(apt-get install slapd ldap-utils, with slapd/no_configuration=true preseeded)."
)


class SlapdError(RuntimeError):
    pass


def find_tool(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SlapdError(_MISSING_HINT.format(missing=name))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def user_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE_DN}"


def group_dn(name: str) -> str:
    return f"cn={name},{GROUPS_DN}"


@dataclass
class SlapdServer:
    """One slapd process. ``start()`` builds everything under ``workdir``; ``stop()`` ends it.

    ``tls=True`` also serves ``ldaps://`` with a certificate for 127.0.0.1 signed by a throwaway
    CA (``ca_file``).
    """

    workdir: Path
    tls: bool = False
    admin_password: str = "admin-Secret-0"
    bind_password: str = "gateway-Secret-9"
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))
    groups: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(GROUPS))
    port: int = 0
    ldaps_port: int = 0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    base_dn = SUFFIX
    admin_dn = ADMIN_DN
    bind_dn = BIND_DN
    people_dn = PEOPLE_DN
    groups_dn = GROUPS_DN

    # -- addresses -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    @property
    def ldapi_url(self) -> str:
        return "ldapi://" + quote(str(self.workdir / "ldapi"), safe="")

    @property
    def ca_file(self) -> Path:
        return self.workdir / "tls" / "ca.pem"

    @property
    def log_file(self) -> Path:
        return self.workdir / "slapd.log"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def user_dn(self, uid: str) -> str:
        return user_dn(uid)

    def group_dn(self, name: str) -> str:
        return group_dn(name)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> SlapdServer:
        for tool in _TOOLS:
            find_tool(tool)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        if self.tls:
            self.ldaps_port = self.ldaps_port or free_port()
            self._make_certificates()
        self._write_config()
        self._launch()
        self._wait_ready(timeout)
        self._ldap_tool(
            "ldapadd", "-x", "-D", ADMIN_DN, "-w", self.admin_password, stdin=self._directory_ldif()
        )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        self.resume_if_paused(process)
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections, but nothing is answered."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    @staticmethod
    def resume_if_paused(process: subprocess.Popen[bytes]) -> None:
        # A stopped process cannot act on SIGTERM until it is continued.
        process.send_signal(signal.SIGCONT)

    def __enter__(self) -> SlapdServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- runtime changes -------------------------------------------------------------------------
    def set_bind_anon_dn(self, allowed: bool) -> None:
        """Add (or remove) ``olcAllows: bind_anon_dn``: a DN with an empty password then binds
        as anonymous and the server reports success (the CVE-2015-1772 condition)."""
        operation = "add" if allowed else "delete"
        ldif = (
            f"dn: cn=config\nchangetype: modify\n{operation}: olcAllows\nolcAllows: bind_anon_dn\n"
        )
        self._ldap_tool("ldapmodify", "-Y", "EXTERNAL", "-Q", stdin=ldif, url=self.ldapi_url)

    def whoami(self, dn: str, password: str) -> str:
        """``ldapwhoami`` as ``dn`` (an independent check of what slapd itself accepts)."""
        result = subprocess.run(
            [find_tool("ldapwhoami"), "-x", "-H", self.url, "-D", dn, "-w", password],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if result.returncode != 0:
            return f"error: {result.stderr.strip()}"
        return result.stdout.strip()

    # -- internals -------------------------------------------------------------------------------
    def _launch(self) -> None:
        urls = f"{self.url}/ {self.ldapi_url}"
        if self.tls:
            urls += f" {self.ldaps_url}/"
        log = self.log_file.open("ab")
        try:
            self._process = subprocess.Popen(
                [find_tool("slapd"), "-F", str(self.workdir / "slapd.d"), "-h", urls, "-d", "0"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise SlapdError(f"slapd exited with {self._process.returncode}:\n{self._log()}")
            probe = subprocess.run(
                [find_tool("ldapwhoami"), "-x", "-H", self.url],
                capture_output=True,
                timeout=5,
                check=False,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise SlapdError(f"slapd did not answer within {timeout:.0f}s:\n{self._log()}")

    def _log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    def _ldap_tool(self, tool: str, *args: str, stdin: str, url: str | None = None) -> None:
        result = subprocess.run(
            [find_tool(tool), "-H", url or self.url, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise SlapdError(f"{tool} failed ({result.returncode}): {result.stderr.strip()}")

    def _write_config(self) -> None:
        config_dir = self.workdir / "slapd.d"
        data_dir = self.workdir / "data"
        shutil.rmtree(config_dir, ignore_errors=True)
        config_dir.mkdir()
        data_dir.mkdir(exist_ok=True)
        ldif = self.workdir / "config.ldif"
        ldif.write_text(self._config_ldif(data_dir))
        result = subprocess.run(
            [find_tool("slapadd"), "-n0", "-F", str(config_dir), "-l", str(ldif)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise SlapdError(f"slapadd failed: {result.stderr.strip()}")

    def _config_ldif(self, data_dir: Path) -> str:
        includes = "\n".join(
            f"include: file://{_SCHEMA_DIR / name}"
            for name in ("core.ldif", "cosine.ldif", "nis.ldif", "inetorgperson.ldif")
        )
        tls = ""
        if self.tls:
            tls_dir = self.workdir / "tls"
            tls = (
                f"olcTLSCACertificateFile: {tls_dir / 'ca.pem'}\n"
                f"olcTLSCertificateFile: {tls_dir / 'server.pem'}\n"
                f"olcTLSCertificateKeyFile: {tls_dir / 'server.key'}\n"
            )
        peer = f"gidNumber={os.getgid()}+uidNumber={os.getuid()},cn=peercred,cn=external,cn=auth"
        return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {self.workdir / "slapd.pid"}
{tls}
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {_MODULE_DIR}
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{includes}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by dn.exact={peer} manage by * break

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {SUFFIX}
olcRootDN: {ADMIN_DN}
olcRootPW: {self.admin_password}
olcDbDirectory: {data_dir}
olcDbMaxSize: 67108864
olcAccess: {{0}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{1}}to * by users read by anonymous read
"""

    def _directory_ldif(self) -> str:
        blocks = [
            f"dn: {SUFFIX}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n"
            "o: Example\ndc: example\n",
        ]
        for ou in ("people", "groups", "services"):
            blocks.append(f"dn: ou={ou},{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}\n")
        blocks.append(
            f"dn: {BIND_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
            f"cn: gateway\nuserPassword: {self.bind_password}\n"
        )
        for uid, password in self.users.items():
            blocks.append(
                f"dn: {user_dn(uid)}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\n"
                f"sn: {uid}\nuserPassword: {password}\n"
            )
        for name, members in self.groups.items():
            member_lines = "".join(f"member: {user_dn(uid)}\n" for uid in members)
            blocks.append(
                f"dn: {group_dn(name)}\nobjectClass: groupOfNames\ncn: {name}\n{member_lines}"
            )
        return "\n".join(blocks)

    def _make_certificates(self) -> None:
        tls_dir = self.workdir / "tls"
        tls_dir.mkdir(exist_ok=True)
        openssl = shutil.which("openssl")
        if openssl is None:
            raise SlapdError("openssl is needed to make the test certificates for ldaps://")

        def run(command: str, *extra: str) -> None:
            subprocess.run(
                [openssl, *command.split(), *extra],
                cwd=tls_dir,
                capture_output=True,
                timeout=60,
                check=True,
            )

        run(
            "req -x509 -newkey rsa:2048 -nodes -days 2 -keyout ca.key -out ca.pem",
            "-subj",
            "/CN=kyuubi-py test CA",
        )
        run("req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr")
        (tls_dir / "san.ext").write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        )
        run(
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
            "-extfile san.ext -out server.pem"
        )
