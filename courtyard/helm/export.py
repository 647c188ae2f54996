"""`invoke export-helm`: values, TLS secrets and deploy instructions for the nats/nats chart."""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from courtyard.artefacts import authorization, export_folder, nodeconf, secret_folders
from courtyard.core.errors import CourtyardError
from courtyard.helm import values as helm_values
from courtyard.project import naming
from courtyard.project.loaded import Project

SECRETS_FILE = "secrets.yaml"
VALUES_FILE = "values.yaml"


@dataclass
class ExportResult:
    out: Path
    written: list[Path] = field(default_factory=list)
    secrets: Path | None = None
    kubectl: list[str] = field(default_factory=list)
    deploy: list[str] = field(default_factory=list)


def secret_manifests(project: Project) -> list[dict]:
    """The Secrets the values name: route and server pairs (kubernetes.io/tls) and the CA,
    holding exactly what the local nodes mount (`secret_folders`), the CA trust bundle of a
    running rotation included."""
    names, ns = project.names, project.spec.namespace
    labels = dict(naming.K8S_MANAGED_BY)
    contents = secret_folders.contents(project.layout)

    def secret(name: str, container_dir: str, kind: str) -> dict:
        files = contents[container_dir]
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": kind,
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "data": {key: base64.b64encode(value).decode() for key, value in files.items()},
        }

    manifests = [
        secret(names.route_secret, naming.ROUTE_TLS_DIR, "kubernetes.io/tls"),
        secret(names.client_secret, naming.CLIENT_TLS_DIR, "kubernetes.io/tls"),
        secret(names.ca_secret, naming.CA_DIR, "Opaque"),
    ]
    if helm_values.needs_accounts_config(project):
        text = accounts_text(project)
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {
                    "name": names.accounts_secret,
                    "namespace": ns,
                    "labels": labels,
                },
                "data": {naming.ACCOUNTS_CONFIG_FILE: base64.b64encode(text.encode()).decode()},
            }
        )
    return manifests


def accounts_text(project: Project) -> str:
    """The config the 0.x chart includes for the accounts and their users."""
    return nodeconf.render(
        authorization.accounts_config(project.spec),
        "The accounts and their users, included by the 0.x chart (nats.config).",
    )


def kubectl_commands(project: Project) -> list[str]:
    names, layout, ns = project.names, project.layout, project.spec.namespace
    q = shlex.quote
    # What the nodes trust: the CA, or both CAs while a rotation runs.
    bundle = secret_folders.host_folder(layout, naming.CA_DIR) / secret_folders.CA_NAME

    def tls(secret: str, base: str) -> str:
        return (
            f"kubectl -n {q(ns)} create secret generic {secret} --type=kubernetes.io/tls "
            f"--from-file=tls.crt={q(str(layout.cert(base)))} "
            f"--from-file=tls.key={q(str(layout.key(base)))} "
            f"--from-file=ca.crt={q(str(bundle))}"
        )

    return [
        tls(names.route_secret, "route"),
        tls(names.client_secret, "server"),
        f"kubectl -n {q(ns)} create secret generic {names.ca_secret} "
        f"--from-file=ca.crt={q(str(bundle))}",
    ] + (
        [
            f"kubectl -n {q(ns)} create secret generic {names.accounts_secret} "
            f"--from-literal={naming.ACCOUNTS_CONFIG_FILE}="
            f"{q(accounts_text(project))}"
        ]
        if helm_values.needs_accounts_config(project)
        else []
    )


def deploy_commands(
    project: Project, out: Path, *, with_secrets_file: bool, upgrade: bool = False
) -> list[str]:
    spec, names = project.spec, project.names
    q = shlex.quote
    ns = q(spec.namespace)
    version = (
        helm_values.chart_version()
        if spec.chart_layout == "current" or upgrade
        else helm_values.LEGACY_CHART_VERSION
    )
    commands = [
        f"helm repo add {helm_values.CHART_REPO_NAME} {helm_values.CHART_REPO_URL}",
        "helm repo update",
    ]
    if with_secrets_file:
        commands.append(f"kubectl apply -n {ns} -f {q(str(out / SECRETS_FILE))}")
    else:
        commands += kubectl_commands(project)
    # An in-place upgrade must find the release it upgrades: no --install.
    verb = "helm upgrade" if upgrade else "helm upgrade --install"
    commands += [
        f"{verb} {spec.release} nats/nats --version {version} -n {ns} "
        f"-f {q(str(out / VALUES_FILE))}",
        f"kubectl -n {ns} rollout status statefulset/{names.statefulset}",
        f"kubectl -n {ns} get pods -l app.kubernetes.io/instance={spec.release}",
        f"kubectl -n {ns} port-forward pod/{names.pod(0)} {spec.ports.monitor} & "
        f"curl -s 'http://localhost:{spec.ports.monitor}/healthz?js-enabled-only=true'",
    ]
    return commands


# The first line of each file an export writes: how a folder exported before the manifest
# existed is still recognised as Courtyard's.
VALUES_HEADER = "# Values for the nats/nats chart, exported by Courtyard"
SECRETS_HEADER = "# Kubernetes Secrets for the nats/nats chart."
README_HEADER = "# Deploying this cluster to Kubernetes"
SIGNATURES = tuple(h.encode() for h in (VALUES_HEADER, SECRETS_HEADER, README_HEADER))


ROTATION_README = [
    "## Rotating certificates",
    "",
    "The chart's config reloader watches the mounted Secrets and makes nats-server reload",
    "them: certificates change without restarting a pod, as they do locally.",
    "",
    "- New leaf certificates (`invoke certs --force`, or renewal within 30 days of expiry):",
    "  `invoke up` reloads them locally; `invoke export-helm` and `kubectl apply -f",
    "  secrets.yaml` do the same in Kubernetes.",
    "- A new CA, in the same three phases as `invoke rotate-ca`, never splitting the",
    "  cluster. For each phase N in 1, 2, 3: run `invoke rotate-ca --stop-after N` (phase 3:",
    "  plain `invoke rotate-ca`), then `invoke export-helm` and `kubectl apply -f",
    "  secrets.yaml`, then wait until every pod has reloaded (`kubectl logs <pod> -c nats`",
    "  shows `Reloaded server configuration`) before the next phase. Phase 1 trusts old and",
    "  new CA (the CA Secret holds both), phase 2 reissues every certificate from the new",
    "  CA, phase 3 trusts only the new CA. Give clients the `ca.crt` of the CA Secret.",
    "",
]


def check_secrets_location(out: Path) -> None:
    """Private keys go only where git provably will not track them."""
    tracked = export_folder.git_tracks(out, SECRETS_FILE)
    if tracked:
        raise CourtyardError(
            f"{out} is tracked by git and the secrets hold private keys; choose an ignored "
            "folder such as dist/helm, or pass --no-secrets"
        )
    if tracked is None:
        raise CourtyardError(
            f"{out} lies in a git work tree and git cannot be asked whether it is ignored "
            "(is git on PATH?); the secrets hold private keys, so install git, or pass "
            "--no-secrets"
        )


@dataclass(frozen=True)
class ExportPlan:
    """What differs between an export of the spec's own layout and an upgrade export."""

    values: dict
    out: Path
    layout_line: str  # the values file's "# Layout:" line
    layout_name: str  # how the README names the layout
    readme_extra: tuple[str, ...] = ()
    upgrade: bool = False


def export_helm(project: Project, out: Path | None = None, *, secrets: bool = True) -> ExportResult:
    """Write values (and secrets) of the spec's layout into `out`, a folder the export owns;
    refuse anything else before a file is written."""
    layout = project.spec.chart_layout
    return write_export(
        project,
        ExportPlan(
            values=helm_values.values(project),
            out=out or project.layout.helm_out,
            layout_line=f"{layout}. Regenerate with `invoke export-helm`.",
            layout_name=f"{layout} layout",
        ),
        secrets=secrets,
    )


def write_export(project: Project, export: ExportPlan, *, secrets: bool) -> ExportResult:
    """Plan every file of the export, check the folder is the export's own (and, with
    secrets, one git ignores), then write them all; a stale secrets file goes."""
    out = export.out.resolve()
    export_folder.check_owned(out, SIGNATURES)
    if secrets:
        check_secrets_location(out)
    result = ExportResult(out)
    header = f"{VALUES_HEADER} from {project.spec.path}.\n# Layout: {export.layout_line}\n"
    planned = [
        export_folder.Planned(
            VALUES_FILE, (header + yaml.safe_dump(export.values, sort_keys=False)).encode()
        )
    ]
    if secrets:
        text = (
            f"{SECRETS_HEADER} THEY HOLD PRIVATE KEYS: keep this file out of git.\n"
            + yaml.safe_dump_all(secret_manifests(project), sort_keys=False)
        )
        planned.append(export_folder.Planned(SECRETS_FILE, text.encode(), private=True))
        result.secrets = out / SECRETS_FILE
    else:
        result.kubectl = kubectl_commands(project)
    result.deploy = deploy_commands(project, out, with_secrets_file=secrets, upgrade=export.upgrade)
    readme = _readme(project, export, result, secrets)
    planned.append(export_folder.Planned("README.md", "\n".join(readme).encode()))
    # Secrets an earlier export wrote are stale private keys once --no-secrets is chosen.
    stale = () if secrets else (SECRETS_FILE,)
    result.written = export_folder.write_owned(out, planned, remove=stale)
    return result


def _readme(project: Project, export: ExportPlan, result: ExportResult, secrets: bool) -> list[str]:
    readme = [
        README_HEADER,
        "",
        f"Exported by Courtyard from `{project.spec.path}` for the nats/nats chart "
        f"({export.layout_name}), release `{project.spec.release}` in "
        f"namespace `{project.spec.namespace}`.",
        "",
    ]
    if secrets:
        readme += [f"`{SECRETS_FILE}` holds private keys (mode 0600); keep it out of git.", ""]
    readme += list(export.readme_extra)
    return [*readme, "```sh", *result.deploy, "```", "", *ROTATION_README]
