"""The coordinator's hospital-facing address: a TLS proxy that passes Flower's Fleet API only.

Why: Flower 1.42's SuperLink serves its three HTTP APIs from ONE uvicorn server on one
`--host/--port`: the Fleet API (`/v1/fleet/*`, what SuperNodes use, signed with their keys), the
Control API (`/v1/control/*`: submit and stop runs, register node keys; no authentication in the
open-source SuperLink) and the Runtime API (`/v1/runtime/*`, formerly ServerAppIo: where the
ServerApp's process takes its task and sends messages). Its `--control-api-address` and
`--fleet-api-address` flags are deprecated and only address legacy gRPC servers that 1.42's
SuperNodes no longer speak. So genofed binds the SuperLink to 127.0.0.1 and puts nginx (a
Debian package, run by the coordinator as its own unprivileged child process, with a config
written here) on the public address: it terminates TLS with the federation's certificate,
accepts only `POST /v1/fleet/<name>` whose raw request line matches exactly (no encoded or
dotted paths), and forwards those to the SuperLink over TLS verified with the federation's CA.
Everything else gets 404; a plain-HTTP request gets its connection closed. Refused requests are
logged (DIR/proxy/refused.log), accepted ones are not (hospitals poll every few seconds).
"""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from genofed.common.errors import GenofedError
from genofed.common.util.atomic import write_text_atomic

PROXY_DIR = "proxy"
#: Where nginx is looked for besides PATH (Debian installs it in /usr/sbin, which is not on an
#: unprivileged user's PATH).
NGINX_PLACES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
#: The largest request a hospital may send (model arrays travel in push-object requests).
MAX_BODY = "1024m"
#: The only paths passed on: Flower's Fleet routes are lower-case names with dashes.
FLEET_PATH = r"^/v1/fleet/[a-z-]+$"


@dataclass(frozen=True)
class ProxyConfig:
    listen_host: str  # the hospital-facing address
    listen_port: int
    upstream_port: int  # the SuperLink, on 127.0.0.1
    certificate: Path  # the federation's server.pem / server.key (the SuperLink's own)
    key: Path
    ca: Path  # verifies the SuperLink behind the proxy
    folder: Path  # DIR/proxy: config, pid file, temp files, refused.log


def find_nginx(explicit: str = "") -> str:
    """The nginx executable; a clear error when it is not installed."""
    candidates = [explicit] if explicit else [shutil.which("nginx") or "", *NGINX_PLACES]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    where = explicit or "PATH, " + ", ".join(NGINX_PLACES)
    raise GenofedError(
        f"nginx not found ({where}): the coordinator needs it for its hospital-facing address; "
        "install the Debian package (apt-get install nginx) or give --nginx PATH"
    )


def render(config: ProxyConfig) -> str:
    """The nginx configuration (one server, one upstream)."""
    folder = config.folder.resolve()
    header = (
        "# Written by `genofed coordinator start` at every start (server/service/fleet_proxy.py); "
        "edits are lost.\n"
    )
    return header + _main_context(folder) + _http_context(config, folder)


def _main_context(folder: Path) -> str:
    """nginx's top-level settings: one worker, the pid file in `folder`, errors to stderr."""
    return f"""{_user_line()}worker_processes 1;
pid {_quoted(folder / "nginx.pid")};
error_log stderr warn;
daemon off;
events {{ worker_connections 512; }}
"""


def _http_context(config: ProxyConfig, folder: Path) -> str:
    """The http block: temp folders under `folder`, the SuperLink upstream and the one server."""
    temp = "\n".join(
        f"    {name}_temp_path {_quoted(folder / 'tmp' / name)};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""http {{
    server_tokens off;
{temp}
    map $status $genofed_refused {{ ~^[23] 0; default 1; }}
    upstream genofed_superlink {{
        server 127.0.0.1:{config.upstream_port};
        keepalive 16;
    }}
{_fleet_server(config, folder)}}}
"""


def _fleet_server(config: ProxyConfig, folder: Path) -> str:
    """The hospital-facing TLS server: Flower's Fleet API passed on, everything else refused."""
    listen = f"[{config.listen_host}]" if ":" in config.listen_host else config.listen_host
    return f"""    server {{
        listen {listen}:{config.listen_port} ssl;
        ssl_certificate {_quoted(config.certificate.resolve())};
        ssl_certificate_key {_quoted(config.key.resolve())};
        ssl_protocols TLSv1.2 TLSv1.3;
        access_log {_quoted(folder / "refused.log")} combined if=$genofed_refused;
        client_max_body_size {MAX_BODY};
        # plain HTTP on this TLS port: close the connection without an answer
        error_page 497 = @plain;
        location @plain {{ return 444; }}
{_fleet_location(config)}
        location / {{ return 404; }}
    }}
"""


def _fleet_location(config: ProxyConfig) -> str:
    """The one location passed to the SuperLink: Fleet API paths, POST only, over verified TLS."""
    return f"""        # Flower's Fleet API only; the raw request line is checked too, so no encoded or
        # dotted path can reach another API of the SuperLink
        location ~ {FLEET_PATH} {{
            if ($request_uri !~ {FLEET_PATH}) {{ return 404; }}
            limit_except POST {{ deny all; }}
            proxy_pass https://genofed_superlink;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto https;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {_quoted(config.ca.resolve())};
            proxy_ssl_name localhost;
            proxy_ssl_session_reuse on;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_read_timeout 600s;
            proxy_send_timeout 600s;
        }}"""


def _quoted(path: Path) -> str:
    """`path` as an nginx string: in double quotes, `\\` and `"` escaped, so that a folder with a
    space (`/srv/fed two`) is one argument, not two (nginx refused such a federation's start with
    "invalid number of arguments in pid directive")."""
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(config: ProxyConfig) -> Path:
    """Write DIR/proxy/nginx.conf (and the temp folders nginx needs); returns its path."""
    (config.folder / "tmp").mkdir(parents=True, exist_ok=True, mode=0o700)
    path = config.folder / "nginx.conf"
    write_text_atomic(path, render(config))
    return path


def nginx_command(nginx: str, config_file: Path) -> list[str]:
    """nginx in the foreground with this config only (`-e stderr`: it never opens the system's
    /var/log/nginx, which an unprivileged coordinator cannot write)."""
    return [nginx, "-e", "stderr", "-p", f"{config_file.parent.resolve()}/", "-c", str(config_file.resolve())]


def _user_line() -> str:
    """Run as root, nginx would hand its workers to `nobody`, which cannot use the coordinator's
    0700 folder; keep them as the coordinator's own user (an unprivileged one in production)."""
    if os.geteuid() != 0:
        return ""
    return f"user {pwd.getpwuid(os.geteuid()).pw_name};\n"
