"""A v1 migration as a user runs it: the v1 connector's configuration and the v1 Lambda code, unchanged."""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

from support.cli import local_args, run_cli
from support.feedback import COMPONENT, REPO, S3Server, add_component
from support.harness import Project, component_environment
from support.seeds import SEED_MAP_STRING

EXAMPLE = REPO / "examples" / "feedback-client"


def s3_with_the_seed_buckets() -> tuple[S3Server, Any]:
    """A local S3 server holding the two buckets of seed 001's FeedbackConfigurationMap."""
    server = S3Server()
    s3 = server.client()
    for bucket in ("my-aws-bucket-random-sampling", "my-aws-bucket-least-confidence-sampling"):
        s3.create_bucket(Bucket=bucket)
    return server, s3


def test_v1_configuration_and_v1_lambda_code_work_unchanged(short_tmp):
    s3_server, s3 = s3_with_the_seed_buckets()
    try:
        project = Project(short_tmp / "project")
        add_component(project)
        shutil.copytree(EXAMPLE / "recipes", project.recipes, dirs_exist_ok=True)
        shutil.copytree(EXAMPLE / "artifacts", project.artifacts, dirs_exist_ok=True)
        # The seed's create-connector-definition parameters, passed as they were given to v1.
        update = EXAMPLE / "v1-connector-parameters.json"
        assert json.loads(update.read_text()) == {COMPONENT: {"MERGE": {"FeedbackConfigurationMap": SEED_MAP_STRING, "RequestLimit": "10"}}}

        result = run_cli(
            *local_args("run", short_tmp / "root", project.recipes, project.artifacts),
            "--merge", f"{COMPONENT}=1.0.0", "--merge", "com.example.FeedbackClient=1.0.0",
            "--update-config", str(update), "--until-finished", "com.example.FeedbackClient",
            env=component_environment(s3_server.environment()),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr + (short_tmp / "root" / "logs" / "com.example.FeedbackClient.log").read_text()

        # The example publishes the moment it starts; it starts once the component is subscribed; nothing is lost.
        (item,) = s3.list_objects_v2(Bucket="my-aws-bucket-least-confidence-sampling")["Contents"]
        assert re.fullmatch(r"[0-9a-f-]{36}\.png", item["Key"])
        stored = s3.get_object(Bucket="my-aws-bucket-least-confidence-sampling", Key=item["Key"])
        with zipfile.ZipFile(io.BytesIO((EXAMPLE / "artifacts/com.example.FeedbackClient/1.0.0/model-input.zip").read_bytes())) as archive:
            assert stored["Body"].read() == archive.read("sample.png")
        assert stored["ContentType"] == "image/png"
        assert "publish-ts" in stored["Metadata"]
        assert "KeyError" not in Path(short_tmp / "root" / "logs" / f"{COMPONENT}.log").read_text()
    finally:
        s3_server.stop()


def test_a_first_deployment_with_an_unusable_configuration_fails_and_names_the_key(short_tmp):
    from greengrass_local.deployment.lifecycle import State
    from greengrass_local.tools.explain import failure_lines
    from support.feedback import configuration_update
    from support.harness import NucleusThread

    project = Project(short_tmp / "project")
    add_component(project)
    with NucleusThread(short_tmp / "root") as nucleus:
        bad = configuration_update({"RequestLimit": "lots"})
        record = nucleus.deploy(project, merge={COMPONENT: "1.0.0"}, configuration=bad, timeout=120)
        assert record.status == "FAILED"
        assert record.details["deploymentFailureCause"] == f"Service {COMPONENT} in broken state after deployment"
        assert nucleus.state(COMPONENT) is State.BROKEN
        log = nucleus.log(COMPONENT)
    assert log.count("invalid configuration: RequestLimit: must match ^$|^[0-9]{1,3}$ (0 to 999), got 'lots'") == 3
    logs_dir = short_tmp / "root" / "logs"
    assert failure_lines(record.details["deploymentFailureCause"], logs_dir, lambda name: []) == [
        f"{COMPONENT}: invalid configuration: RequestLimit: must match ^$|^[0-9]{{1,3}}$ (0 to 999), got 'lots'",
        f"{COMPONENT}'s log: {logs_dir / (COMPONENT + '.log')}",
    ]


def test_convert_v1_output_gives_the_uploads_the_v1_map_describes(short_tmp):
    from support.feedback import OBSERVER, Observer, add_observer
    from support.harness import NucleusThread
    from support.seeds import CREATE_CONNECTOR_DEFINITION

    definition = short_tmp / "connector-definition.json"
    definition.write_text(json.dumps(CREATE_CONNECTOR_DEFINITION))
    converted = short_tmp / "update-config.json"
    result = run_cli("convert-v1", str(definition), "-o", str(converted))
    assert result.returncode == 0, result.stderr

    s3_server, s3 = s3_with_the_seed_buckets()
    try:
        project = Project(short_tmp / "project")
        add_component(project)
        add_observer(project)
        with NucleusThread(short_tmp / "root", environment=component_environment(s3_server.environment())) as nucleus:
            update = json.loads(converted.read_text())
            record = nucleus.deploy(project, merge={COMPONENT: "1.0.0", OBSERVER: "1.0.0"}, configuration=update, timeout=120)
            assert record.status == "SUCCEEDED", record.details
            observer = Observer(nucleus)

            def outcome(config_id, prediction):
                status = observer.status(observer.send(config_id, b"\x89PNG frame", prediction))["response"]
                return status["status"], status.get("s3_response", {}).get("bucket"), status.get("s3_response", {}).get("key", "")

            # LeastConfidenceConfiguration: threshold 0.4, so max(p) 0.4 uploads and 0.9 does not.
            uploaded = outcome("LeastConfidenceConfiguration", [0.3, 0.3, 0.4])
            assert uploaded[:2] == ("success", "my-aws-bucket-least-confidence-sampling") and uploaded[2].endswith(".png")
            assert outcome("LeastConfidenceConfiguration", [0.9, 0.05, 0.05])[0] == "sample_dropped_by_strategy"
            # RandomSamplingConfiguration: rate 0.5, any prediction; what uploads lands as a .png in its bucket.
            randoms = [outcome("RandomSamplingConfiguration", {"any": "prediction"}) for _ in range(40)]
            assert {status for status, _, _ in randoms} == {"success", "sample_dropped_by_strategy"}
            assert all(
                bucket == "my-aws-bucket-random-sampling" and key.endswith(".png") for status, bucket, key in randoms if status == "success"
            )
            observer.close()
        (stored,) = s3.list_objects_v2(Bucket="my-aws-bucket-least-confidence-sampling")["Contents"]
        assert s3.head_object(Bucket="my-aws-bucket-least-confidence-sampling", Key=stored["Key"])["ContentType"] == "image/png"
    finally:
        s3_server.stop()


def test_a_first_deployment_with_a_bad_bucket_name_fails_saying_why_and_where(short_tmp):
    """Before: `deployment failed: Service community.greengrass.MLFeedback in broken state after deployment`, nothing more."""
    project = Project(short_tmp / "project")
    add_component(project)
    root = short_tmp / "root"
    bad = {COMPONENT: {"MERGE": {"FeedbackConfigurationMap": {"Cam1": {"s3-bucket-name": "Not_A_Bucket", "content-type": "image/png"}}}}}
    result = run_cli(
        *local_args("run", root, project.recipes, project.artifacts, "--merge", f"{COMPONENT}=1.0.0", "--update-config", json.dumps(bad))
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"mlfeedback: deployment failed: Service {COMPONENT} in broken state after deployment",
        f"mlfeedback: {COMPONENT}: invalid configuration: FeedbackConfigurationMap.Cam1.s3-bucket-name: required, must match "
        "^[a-z0-9\\.\\-]{3,63}$, got 'Not_A_Bucket'",
        f"mlfeedback: {COMPONENT}'s log: {root.resolve() / 'logs' / (COMPONENT + '.log')}",
    ]
