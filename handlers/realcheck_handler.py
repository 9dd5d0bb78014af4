"""TorchServe adapter over realcheck.service: a thin layer, by design.

Everything that decides anything (decoding, preprocessing, calibration,
explanations) lives in the plain ``realcheck`` package, shipped inside the .mar.
This file only maps TorchServe's context onto it:

* explanation vs prediction is read per request, because TorchServe's own
  ``_is_explain`` looks at the first request of a batch only;
* each request gets its own status via ``context.set_response_status``, so one
  corrupt image cannot fail the batch with a 503;
* every response is JSON with its content type set.
"""

from __future__ import annotations

import logging
import os
import sys

import torch
from ts.torch_handler.base_handler import BaseHandler

# Prefer the realcheck package inside the archive over any installed copy, so a
# .mar always runs the code it was built with.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from realcheck import spec  # noqa: E402
from realcheck.detector import load_detector  # noqa: E402
from realcheck.service import DetectionService, Request, form_payload  # noqa: E402

logger = logging.getLogger(__name__)
JSON = "application/json"


class RealcheckHandler(BaseHandler):
    """Serves one realcheck model; subclasses only name it."""

    model_name = ""

    def initialize(self, context) -> None:
        properties = context.system_properties
        model_dir = properties.get("model_dir")
        options = (getattr(context, "model_yaml_config", None) or {}).get("realcheck", {})
        gpu_id = properties.get("gpu_id")
        if torch.cuda.is_available() and gpu_id is not None:
            self.device = torch.device(f"cuda:{gpu_id}")
        else:
            self.device = torch.device("cpu")
            torch.set_num_threads(self._threads_per_worker(context, options))
        detector = load_detector(
            os.path.join(model_dir, "model.pt"), os.path.join(model_dir, spec.CALIBRATION_FILE), self.device
        )
        if detector.spec.name != self.model_name:
            raise ValueError(f"{type(self).__name__} serves {self.model_name!r}, but the archive holds {detector.spec.name!r}")
        self.service = DetectionService(detector, int(options.get("max_pixels", spec.DEFAULT_MAX_PIXELS)))
        self.context = context
        self.initialized = True
        logger.info(
            "realcheck %s/%s v%s on %s, %d torch threads, calibrated=%s",
            detector.spec.name,
            detector.spec.preset,
            detector.version,
            self.device,
            torch.get_num_threads(),
            detector.calibrated,
        )

    @staticmethod
    def _threads_per_worker(context, options: dict) -> int:
        """Workers x threads must not exceed the cores, or they fight over them.

        REALCHECK_THREADS_PER_WORKER (e.g. from a container's CPU limit) wins over
        the archive's ``threads_per_worker``; otherwise the cores this process may
        use (its affinity, not the whole host's count) are split between workers.
        """
        configured = os.environ.get("REALCHECK_THREADS_PER_WORKER") or options.get("threads_per_worker")
        if configured:
            return max(1, int(configured))
        workers = int((getattr(context, "model_yaml_config", None) or {}).get("maxWorkers", 1) or 1)
        return max(1, len(os.sched_getaffinity(0)) // workers)

    def handle(self, data, context):
        requests = [
            # The frontend marks /explanations requests with the header explain="True".
            Request(form_payload(item), explain=context.get_request_header(index, "explain") == "True")
            for index, item in enumerate(data)
        ]
        outcomes = self.service.handle(requests)
        for index, outcome in enumerate(outcomes):
            context.set_response_content_type(index, JSON)
            if outcome.status != 200:
                context.set_response_status(outcome.status, outcome.body.get("detail", ""), index)
        return [outcome.json_bytes for outcome in outcomes]
