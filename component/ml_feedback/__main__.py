"""`python -m ml_feedback`: the community.greengrass.MLFeedback component.

Reports RUNNING only once it listens for requests (SPEC §7 Readiness), and
ERRORED when its configuration cannot be served at all.
"""

from __future__ import annotations

import os

# One BLAS thread unless the deployment sets its own (Setenv OPENBLAS_NUM_THREADS), and before numpy is loaded: numpy's
# OpenBLAS otherwise starts a thread per core and keeps them spinning for about 0.1 s after each NOVELTY comparison, which
# at ten requests a second is a whole core taken from the model this component runs next to.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import logging
import signal
import sys
import threading
from pathlib import Path

from .app import MLFeedbackComponent, load_config
from .ipc import IpcBus


def main() -> int:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    bus = IpcBus()
    config = load_config(bus.configuration())
    if config is None:
        bus.report_errored()
        bus.close()
        return 1
    # The recipe passes {work:path}; the nucleus also starts the component in that folder.
    work_dir = Path(os.environ.get("MLFEEDBACK_WORK_PATH") or os.getcwd())
    component = MLFeedbackComponent(bus, config, work_dir=work_dir)
    component.start()
    bus.report_running()
    logging.getLogger("ml_feedback").info("running with %d feedback configuration(s)", len(config.feedback))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        component.log_work_summary()
        if bus.disconnected.is_set():
            logging.getLogger("ml_feedback").error(
                "the IPC connection to the nucleus was lost; exiting so the nucleus restarts the component"
            )
            component.stop()
            return 1
    component.stop()
    bus.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
