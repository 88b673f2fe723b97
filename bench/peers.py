"""The processes a proxy benchmark runs beside ours: NGINX upstreams, HAProxy and NGINX fronts.

Each gets a config file written into a scratch directory, one worker or thread, keep-alive to
its upstreams, and is started and stopped by PID like everything else here.
"""

from __future__ import annotations

from pathlib import Path

# What a substation would answer, fixed, so that the upstream costs next to nothing. Its end
# time is in the past, so the proxy forgets the session at once and its tables stay small.
FIXED_SESSION = (
    '{"session_id":"bench","vehicle_id":"EV-bench","substation":"fast%d",'
    '"requested_kw":11.0,"granted_kw":11.0,'
    '"started_at":"2000-01-01T00:00:00.000Z","ends_at":"2000-01-01T00:01:00.000Z"}'
)


FIXED_METRICS = (
    'current_load{substation="fast%d"} 0\\n'
    'substation_capacity_kw{substation="fast%d"} 1000000000\\n'
)


def nginx_upstreams_conf(prefix: Path, ports: list[int]) -> str:
    servers = "\n".join(
        f"""
    server {{
        listen 127.0.0.1:{port} reuseport;
        keepalive_requests 1000000;
        location = /charge {{
            default_type application/json;
            add_header X-Substation fast{index};
            add_header X-Substation-Load-kW 0;
            add_header X-Substation-Capacity-kW 1000000000;
            return 201 '{FIXED_SESSION % index}';
        }}
        location = /metrics {{
            default_type text/plain;
            return 200 '{FIXED_METRICS.replace("%d", str(index))}';
        }}
        location = /healthz {{
            default_type application/json;
            return 200 '{{"status":"ok"}}';
        }}
    }}"""
        for index, port in enumerate(ports, start=1)
    )
    return _nginx_main(prefix, servers)


def nginx_front_conf(prefix: Path, port: int, upstream_ports: list[int]) -> str:
    members = "\n".join(f"        server 127.0.0.1:{up};" for up in upstream_ports)
    servers = f"""
    upstream grid {{
        least_conn;
{members}
        keepalive 128;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        keepalive_requests 1000000;
        location / {{
            proxy_pass http://grid;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}"""
    return _nginx_main(prefix, servers)


def _nginx_main(prefix: Path, servers: str) -> str:
    return f"""
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{servers}
}}
"""


def haproxy_conf(port: int, upstream_ports: list[int]) -> str:
    members = "\n".join(
        f"    server s{index} 127.0.0.1:{up}" for index, up in enumerate(upstream_ports, start=1)
    )
    return f"""
global
    nbthread 1
    maxconn 4000

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    option http-keep-alive

frontend grid
    bind 127.0.0.1:{port}
    default_backend substations

backend substations
    balance leastconn
    http-reuse always
{members}
"""


# wrk's Lua: a unique vehicle per request (so our substations book each one), and one JSON
# line of results at the end. With DELAY_MS set, each connection waits that long on average
# between requests (uniform from half to one and a half times it, so that connections do not
# march in step and arrive in bursts): about connections * 1000 / DELAY_MS requests a second.
WRK_SCRIPT = """
local prefix = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
local counter = 0
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")

request = function()
  counter = counter + 1
  local body = '{"vehicle_id":"EV-' .. prefix .. '-' .. counter .. '","amount":11}'
  return wrk.format("POST", "/charge", {["Content-Type"] = "application/json"}, body)
end

if delay_ms > 0 then
  delay = function() return math.random(math.floor(delay_ms / 2), math.floor(delay_ms * 3 / 2)) end
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors, summary.errors.status))
end
"""
