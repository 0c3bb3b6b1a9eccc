# gunicorn settings of an nbs2i model service. Every value comes from the one config
# loader (nbs2i_service.config); GUNICORN_CMD_ARGS still overrides any of them.
import os

from nbs2i_service.config import load_config
from nbs2i_service.cpus import available_cpus

_config = load_config()

wsgi_app = "nbs2i_service.wsgi:app"
bind = f"{_config.host}:{_config.port}"
# One worker per CPU this container may use (its cgroup quota, not the host's core count).
workers = _config.workers or available_cpus()
threads = _config.threads
worker_class = "gthread" if threads > 1 else "sync"
# A prediction that takes longer than this gets its worker killed and replaced.
timeout = _config.predict_timeout
graceful_timeout = _config.graceful_timeout
# Load the model once in the master, before forking: shared copy-on-write, and a model
# that fails its checks stops the service before it answers anything.
preload_app = True
# Numeric libraries start one thread per core in every worker unless told otherwise;
# several workers would then fight over the same cores. Give each worker its share.
# Set here because it must happen before the model (and numpy) is imported.
_share = str(max(1, available_cpus() // workers))
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_name, _share)

# No control socket: nothing uses it, and its default place ($HOME) is read-only in the
# restricted pods of deploy/ (readOnlyRootFilesystem).
control_socket_disable = True

errorlog = "-"
loglevel = "info"
accesslog = "-" if _config.access_log else None
access_log_format = (
    '{"time": "%(t)s", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", "status": %(s)s, '
    '"bytes": "%(B)s", "duration_us": %(D)s, "request_id": "%({x-request-id}o)s"}'
)
# Werkzeug enforces NBS2I_MAX_REQUEST_BYTES; these bound the request line and headers.
limit_request_line = 8190
limit_request_fields = 100
