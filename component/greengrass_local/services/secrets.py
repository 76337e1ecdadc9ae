"""GetSecretValue, as the aws.greengrass.SecretManager component answers it, from secrets given locally.

The component (SecretManagerIPCAgent.java, SecretManager.java) resolves the
secret id first (a name maps to the ARN it was configured with; an unknown
name is "Secret not configured NAME"), authorizes the caller on the ARN under
the `aws.greengrass.SecretManager` service, then looks the secret up by
version id, by version stage, or at AWSCURRENT. A 404 there is a
ResourceNotFoundError (resourceType "secret"), a 400 a ServiceError.

Secrets come from `LocalNucleus(secrets=...)`: secret id or ARN ->
{"SecretString": "..."} or {"SecretBinary": "<base64>"}, with optional
"VersionId", "VersionStages" (or "VersionStage") and, for a key that is a
name, "ARN". A name without an ARN gets a local one:
arn:aws:secretsmanager:REGION:000000000000:secret:NAME-XXXXXX.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..authorization import Authorizer
from ..wire.errors import ResourceNotFoundError, ServiceError
from ..wire.server import Call, Operation

log = logging.getLogger("greengrass_local.secrets")

SECRET_MANAGER_SERVICE = "aws.greengrass.SecretManager"
LATEST_LABEL = "AWSCURRENT"
LOCAL_ACCOUNT = "000000000000"
ARN_PATTERN = re.compile(r"arn:([^:]+):secretsmanager:[a-z0-9\-]+:[0-9]{12}:secret:([a-zA-Z0-9\\]+/)*[a-zA-Z0-9/_+=,.@\-]+")
ARN_NAME = re.compile(r".*:secret:(.+)-[A-Za-z0-9]{6}$")


class SecretsError(ValueError):
    """The secrets given to the nucleus are malformed."""


@dataclass(frozen=True)
class Secret:
    arn: str
    name: str
    version_id: str
    stages: tuple[str, ...]
    string: str | None
    binary: str | None  # base64, as sent on the wire

    def response(self) -> dict[str, Any]:
        value = {"secretBinary": self.binary} if self.binary is not None else {"secretString": self.string}
        return {"secretId": self.arn, "versionId": self.version_id, "versionStage": list(self.stages), "secretValue": value}


def load_secrets_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """The JSON file a `--secrets FILE` option names: the same mapping `LocalNucleus(secrets=...)` takes."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SecretsError(f"cannot read secrets from {path}: {exc}") from None
    if not isinstance(document, dict):
        raise SecretsError(f"{path}: secrets must be a JSON object of secret id -> {{SecretString | SecretBinary}}")
    return document


def parse_secrets(secrets: dict[str, Any] | None, region: str) -> list[Secret]:
    parsed = []
    for key, body in (secrets or {}).items():
        if isinstance(body, str):
            body = {"SecretString": body}
        if not isinstance(body, dict):
            raise SecretsError(f"secret {key}: expected an object with SecretString or SecretBinary")
        fields = {str(k).lower(): v for k, v in body.items()}
        string, binary = fields.get("secretstring"), fields.get("secretbinary")
        if (string is None) == (binary is None):
            raise SecretsError(f"secret {key}: give exactly one of SecretString and SecretBinary")
        if binary is not None:
            try:
                base64.b64decode(str(binary), validate=True)
            except (binascii.Error, ValueError):
                raise SecretsError(f"secret {key}: SecretBinary must be base64") from None
        arn = str(fields.get("arn") or key)
        if not ARN_PATTERN.fullmatch(arn):
            suffix = hashlib.sha256(arn.encode()).hexdigest()[:6]
            arn = f"arn:aws:secretsmanager:{region}:{LOCAL_ACCOUNT}:secret:{key}-{suffix}"
        named = ARN_NAME.match(arn)
        name = str(fields.get("name") or (named.group(1) if named else key))
        stages = fields.get("versionstages", fields.get("versionstage")) or [LATEST_LABEL]
        stages = [stages] if isinstance(stages, str) else stages
        version_id = str(fields.get("versionid") or hashlib.sha256(f"{arn}|{string}|{binary}".encode()).hexdigest()[:32])
        parsed.append(Secret(arn, name, version_id, tuple(map(str, stages)), None if string is None else str(string), binary))
    return parsed


class SecretManager:
    def __init__(self, authorizer: Authorizer, secrets: dict[str, Any] | None, region: str) -> None:
        self._authorizer = authorizer
        self._by_key: dict[str, Secret] = {}
        self._name_to_arn: dict[str, str] = {}
        for secret in parse_secrets(secrets, region):
            self._name_to_arn[secret.name] = secret.arn
            self._by_key[secret.arn + secret.version_id] = secret
            for stage in secret.stages:
                self._by_key[secret.arn + stage] = secret
        if secrets:
            log.info("SecretManager stand-in has %d secret(s): %s", len(self._name_to_arn), ", ".join(sorted(self._name_to_arn.values())))

    def operations(self) -> list[Operation]:
        return [Operation("GetSecretValue", self.get_secret_value)]

    def get_secret_value(self, call: Call, request: dict[str, Any]) -> dict[str, Any]:
        secret_id = request.get("secretId")
        log.info("requested secret. {Principal=%s, secret=%s}", call.component, secret_id)
        if not secret_id:
            raise ServiceError("SecretId absent in the request")
        secret_id = str(secret_id)
        arn = secret_id if ARN_PATTERN.fullmatch(secret_id) else self._name_to_arn.get(secret_id)
        if arn is None:
            raise _not_found(f"Secret not configured {secret_id}")
        self._authorizer.check(call.component, SECRET_MANAGER_SERVICE, call.operation, arn)
        version_id, stage = request.get("versionId"), request.get("versionStage")
        if version_id and stage:
            raise ServiceError("Both versionId and Stage are set in the request")
        if version_id:
            key, missing = arn + str(version_id), f"Version Id {version_id} not found for secret {secret_id}"
        elif stage:
            key, missing = arn + str(stage), f"Version stage {stage} not found for secret {secret_id}"
        else:
            key, missing = arn + LATEST_LABEL, f"Secret not found {secret_id}"
        secret = self._by_key.get(key)
        if secret is None:
            raise _not_found(missing)
        return secret.response()


def _not_found(message: str) -> ResourceNotFoundError:
    log.error("Error happened with secret access. {error=%s}", message)
    return ResourceNotFoundError(message, resourceType="secret")
