"""Component lifecycles as the nucleus runs them: artifacts, variables, timeouts, errors."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from greengrass_local.deployment.lifecycle import State

APP = """
import json, os, sys
from ipc_probe import client, outcome, save

here = os.path.dirname(os.path.abspath(__file__))
c = client()
outcome("config", lambda: c.get_configuration(key_path=["mode"]))
save(
    argv=sys.argv[1:],
    here=here,
    data=open(os.path.join(here, "data", "model.txt")).read(),
    cwd=os.getcwd(),
    env={k: os.environ.get(k) for k in (
        "SVCUID", "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT", "AWS_IOT_THING_NAME", "AWS_REGION",
        "GGC_VERSION", "COMPONENT_MODE", "STEP_ONLY", "FROM_EMULATOR")},
    can_write_artifacts=os.access(here, os.W_OK),
)
"""


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_a_zip_artifact_is_unpacked_and_run_with_variables_and_environment(short_tmp, project):
    from support.harness import NucleusThread, component_environment

    project.component(
        "test.App",
        configuration={"mode": "fast", "nested": {"a": 1}},
        artifacts={"app.zip": zipped({"app/main.py": APP, "app/data/model.txt": "weights"})},
        extra_artifacts=[],
        lifecycle={
            "Setenv": {"COMPONENT_MODE": "{configuration:/mode}"},
            "Install": "test -f {artifacts:decompressedPath}/app/app/main.py",
            "Run": {
                "Script": "python3 -u {artifacts:decompressedPath}/app/app/main.py '{configuration:/nested}' {kernel:rootPath} {iot:thingName} {unknown:thing}",
                "Setenv": {"STEP_ONLY": "yes"},
            },
        },
    )
    recipe = (
        (project.recipes / "test.App-1.0.0.yaml")
        .read_text()
        .replace("URI: s3://test-bucket/test.App/1.0.0/app.zip", "URI: s3://test-bucket/test.App/1.0.0/app.zip\n    Unarchive: ZIP")
    )
    (project.recipes / "test.App-1.0.0.yaml").write_text(recipe)

    with NucleusThread(short_tmp / "root", environment=component_environment({"FROM_EMULATOR": "inherited"})) as nucleus:
        record = nucleus.deploy(project, merge={"test.App": "1.0.0"})
        assert record.status == "SUCCEEDED", record.details
        assert nucleus.wait_for_state("test.App", State.FINISHED) is State.FINISHED
        r = nucleus.results("test.App")
        root = str(nucleus.root.resolve())
    assert r["here"] == f"{root}/packages/artifacts-unarchived/test.App/1.0.0/app/app"
    assert r["data"] == "weights"
    assert r["argv"] == ['{"a":1}', root, "local-greengrass-core", "{unknown:thing}"]
    assert r["cwd"] == f"{root}/work/test.App"
    assert r["config"] == ["ok", {"componentName": "test.App", "value": {"mode": "fast"}}]
    env = r["env"]
    assert len(env["SVCUID"]) == 16 and env["SVCUID"].isupper()
    assert env["AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"] == f"{root}/ipc.socket"
    assert env["AWS_IOT_THING_NAME"] == "local-greengrass-core"
    assert env["GGC_VERSION"]
    assert env["COMPONENT_MODE"] == "fast"
    assert env["STEP_ONLY"] == "yes"
    assert env["FROM_EMULATOR"] == "inherited"


def test_an_install_step_that_times_out_is_retried_until_broken(nucleus, project):
    project.component(
        "test.SlowInstall", lifecycle={"Install": {"Script": "echo installing; sleep 30", "Timeout": 0.3}, "Run": "echo never"}
    )
    record = nucleus.deploy(project, merge={"test.SlowInstall": "1.0.0"}, timeout=30)
    assert record.status == "FAILED"
    assert record.details["deploymentFailureCause"] == "Service test.SlowInstall in broken state after deployment"
    assert nucleus.state("test.SlowInstall") is State.BROKEN
    log = nucleus.log("test.SlowInstall")
    assert log.count("stdout. installing.") == 3
    assert "never" not in log


def test_a_startup_that_never_reports_running_times_out(nucleus, project):
    project.component("test.SlowStart", lifecycle={"Startup": {"Script": "sleep 30", "Timeout": 0.3}})
    record = nucleus.deploy(project, merge={"test.SlowStart": "1.0.0"}, timeout=30)
    assert record.status == "FAILED"
    assert nucleus.state("test.SlowStart") is State.BROKEN


def test_a_component_that_crashes_three_times_ends_broken(nucleus, project):
    project.component("test.Crash", lifecycle={"Run": "echo starting; exit 3"})
    record = nucleus.deploy(project, merge={"test.Crash": "1.0.0"}, timeout=30)
    assert record.status == "FAILED"
    assert record.details == {
        "detailedDeploymentStatus": "FAILED_ROLLBACK_NOT_REQUESTED",
        "deploymentErrorStack": ["DEPLOYMENT_FAILURE", "COMPONENT_UPDATE_ERROR", "COMPONENT_BROKEN"],
        "deploymentErrorTypes": ["USER_COMPONENT_ERROR"],
        "deploymentFailureCause": "Service test.Crash in broken state after deployment",
    }
    assert nucleus.state("test.Crash") is State.BROKEN
    assert nucleus.log("test.Crash").count("stdout. starting.") == 3
    greengrass_log = (nucleus.root / "logs" / "greengrass.log").read_text()
    assert greengrass_log.count("newState=ERRORED") == 2
    assert "newState=BROKEN" in greengrass_log


def test_dependents_start_only_once_their_dependencies_report_running(nucleus, project):
    # The dependency takes a while before it reports RUNNING; the dependent records what it saw.
    project.component(
        "test.Service",
        lifecycle={"Startup": "python3 -u {artifacts:path}/main.py"},
        script="""
            import threading, time
            from ipc_probe import client, save
            time.sleep(0.5)
            open("ready", "w").close()
            client().update_state(state="RUNNING")
            threading.Event().wait()
        """,
    )
    project.component(
        "test.User",
        dependencies={"test.Service": {"VersionRequirement": "1.0.0", "DependencyType": "HARD"}},
        lifecycle={"Install": "echo installed", "Run": "test -f ../test.Service/ready && echo saw-ready"},
    )
    assert nucleus.deploy(project, merge={"test.User": "1.0.0"}).status == "SUCCEEDED"
    assert nucleus.wait_for_state("test.User", State.FINISHED) is State.FINISHED
    assert "stdout. saw-ready." in nucleus.log("test.User")


def test_stopping_runs_the_shutdown_step_and_ends_the_processes(short_tmp, project):
    from support.harness import NucleusThread

    project.component("test.Daemon", lifecycle={"Run": "echo $$ > pid; exec sleep 600", "Shutdown": "echo bye > shutdown-ran"})
    with NucleusThread(short_tmp / "root") as nucleus:
        assert nucleus.deploy(project, merge={"test.Daemon": "1.0.0"}).status == "SUCCEEDED"
        work = nucleus.root / "work" / "test.Daemon"
        pid_file = work / "pid"
        assert nucleus.wait_for_state("test.Daemon", State.RUNNING) is State.RUNNING
        for _ in range(100):
            if pid_file.exists() and pid_file.read_text().strip():
                break
            __import__("time").sleep(0.02)
        pid = int(pid_file.read_text())
    assert (work / "shutdown-ran").read_text() == "bye\n"
    assert not Path(f"/proc/{pid}").exists()


def test_a_recipe_for_another_platform_fails_the_deployment(nucleus, project):
    path = project.component("test.Windows", lifecycle={"Run": "echo hi"})
    path.write_text(path.read_text().replace("os: linux", "os: windows"))
    record = nucleus.deploy(project, merge={"test.Windows": "1.0.0"})
    assert record.status == "FAILED"
    assert record.details["deploymentFailureCause"].startswith(
        "Failed to find usable recipe for current platform: {os=linux, architecture="
    )
