"""Checks deploy/compose.yaml without Docker: the file is valid YAML of the Compose shape, every reference in it
resolves (services, networks, volumes, the Caddyfile), every LABELBOOK_* variable it sets is one the server
reads, and the proxy, the nodes and the trusted-proxy address agree. Usage: deploy_check.py COMPOSE SRC_DIR"""

import pathlib
import re
import sys

import yaml

TOP = {"name", "services", "networks", "volumes", "configs", "secrets"}


def check(compose_path: pathlib.Path, src: pathlib.Path) -> list[str]:
    errors: list[str] = []
    doc = yaml.safe_load(compose_path.read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        return ["no services"]
    for key in doc:
        if key not in TOP and not key.startswith("x-"):
            errors.append(f"unknown top-level key {key!r}")
    known_vars = set(re.findall(r'"(LABELBOOK_[A-Z0-9_]+)"', "\n".join(p.read_text() for p in src.rglob("*.rs"))))
    services = doc["services"]
    networks = set((doc.get("networks") or {}).keys())
    volumes = set((doc.get("volumes") or {}).keys())
    nodes, proxy_ip, caddyfile = [], None, None
    for name, svc in services.items():
        if "image" not in svc and "build" not in svc:
            errors.append(f"{name}: neither image nor build")
        deps = svc.get("depends_on") or []
        for dep in deps if isinstance(deps, list) else deps.keys():
            if dep not in services:
                errors.append(f"{name}: depends on unknown service {dep!r}")
        nets = svc.get("networks") or []
        for net in nets if isinstance(nets, list) else nets.keys():
            if net not in networks:
                errors.append(f"{name}: unknown network {net!r}")
        if isinstance(nets, dict):
            for net in nets.values():
                proxy_ip = (net or {}).get("ipv4_address", proxy_ip)
        for vol in svc.get("volumes") or []:
            source = vol.split(":")[0]
            if source.startswith("."):
                path = compose_path.parent / source
                if not path.exists():
                    errors.append(f"{name}: mounts {source}, which does not exist")
                if path.name == "Caddyfile":
                    caddyfile = path
            elif source not in volumes:
                errors.append(f"{name}: unknown volume {source!r}")
        env = svc.get("environment") or {}
        for var in env:
            if var.startswith("LABELBOOK_") and var not in known_vars:
                errors.append(f"{name}: LABELBOOK variable {var} is read nowhere in src/")
        if "LABELBOOK_DATABASE_URL" in env:
            nodes.append((name, env))
    if len(nodes) < 2:
        errors.append("fewer than two Labelbook nodes")
    if caddyfile is None:
        errors.append("no Caddyfile mounted for the proxy")
    upstreams = set()
    if caddyfile is not None:
        m = re.search(r"reverse_proxy\s+([^{\n]+)", caddyfile.read_text())
        upstreams = set(m.group(1).split()) if m else set()
    for name, env in nodes:
        if not str(env["LABELBOOK_DATABASE_URL"]).startswith("postgres://"):
            errors.append(f"{name}: LABELBOOK_DATABASE_URL is not a postgres:// URL")
        port = str(env.get("LABELBOOK_LISTEN", "")).rsplit(":", 1)[-1]
        if f"{name}:{port}" not in upstreams:
            errors.append(f"{name}: the proxy does not send to {name}:{port} (it sends to {sorted(upstreams)})")
        if proxy_ip is None or str(env.get("LABELBOOK_TRUSTED_PROXIES")) != proxy_ip:
            errors.append(f"{name}: LABELBOOK_TRUSTED_PROXIES is not the proxy's address {proxy_ip}")
    return errors


def main() -> int:
    compose, src = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    errors = check(compose, src)
    for e in errors:
        print(f"{compose}: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
