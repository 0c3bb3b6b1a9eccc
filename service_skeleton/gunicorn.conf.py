# gunicorn settings of an nbs2i model service. Every value comes from the one config
# loader (nbs2i_service.config); GUNICORN_CMD_ARGS still overrides any of them.
import os

from nbs2i_service.config import load_config
from nbs2i_service.cpus import available_cpus
from nbs2i_service.threads import THREAD_POOL_VARIABLES, limit_for_load, limit_in_worker

_config = load_config()

wsgi_app = "nbs2i_service.wsgi:app"
bind = f"{_config.host}:{_config.port}"
# One worker per CPU this container may use (its cgroup quota, not the host's core count).
workers = _config.workers or available_cpus()
threads = _config.threads
# The default worker (nbs2i_service/worker.py) is gevent's: a stalled or slow client costs
# a connection, not a worker; concurrent /predict calls can share a batch_predictor call.
# NBS2I_THREADS > 1 picks gunicorn's gthread worker, for predictors that release the GIL.
worker_class = "gthread" if threads > 1 else "nbs2i_service.worker.Worker"
# Idle keep-alive connections are closed after this many seconds.
keepalive = 5
# A prediction that takes longer than this gets its worker killed and replaced.
timeout = _config.predict_timeout
graceful_timeout = _config.graceful_timeout
# Load the model once in the master, before forking: shared copy-on-write, and a model
# that fails its checks stops the service before it answers anything.
preload_app = True

# Numeric libraries (OpenMP, OpenBLAS, MKL, torch) start thread pools. A pool started in
# the master does not survive fork: LightGBM and XGBoost then hang on the first
# prediction. So the master loads the model with one thread per pool, and each worker,
# once forked, raises its pools to its share of the CPUs (or the user's OMP_NUM_THREADS...).
_per_worker = {name: os.environ.get(name) or str(max(1, available_cpus() // workers)) for name in THREAD_POOL_VARIABLES}
limit_for_load()


# Python's garbage collector visits every object it tracks: in a worker, that writes to
# each page the model lives on and un-shares it. Objects that exist when the master forks
# (the model, the libraries) are frozen out of collection, so they stay shared.
def pre_fork(server, worker):
    import gc

    gc.freeze()


# The Open Inference Protocol over gRPC (nbs2i_service/grpc_front.py) on NBS2I_GRPC_PORT, in
# every worker beside HTTP: started once forked (grpcio must not start before a fork), the
# port shared with SO_REUSEPORT. The master checks first that no other process holds it, since
# SO_REUSEPORT would otherwise share that process's port without a word.
def on_starting(server):
    if _config.grpc_port:
        from nbs2i_service.http import port_taken

        taken = port_taken(_config.host, _config.grpc_port)
        if taken:
            server.log.error("gRPC: %s (NBS2I_GRPC_PORT=%d; 0 turns gRPC off)", taken, _config.grpc_port)
            raise SystemExit(1)


# After the worker has installed its signal handlers: a SIGTERM that arrives meanwhile is not lost.
def post_worker_init(worker):
    limit_in_worker(_per_worker)
    if _config.grpc_port:
        from nbs2i_service import grpc_front
        from nbs2i_service.worker import Worker

        gevent = isinstance(worker, Worker)
        worker.nbs2i_grpc = grpc_front.serve(
            worker.wsgi.svc, _config.host, _config.grpc_port, gevent,
            worker.worker_connections if gevent else max(threads, 4), worker.log,
            _config.predict_timeout if gevent else None)
        worker.log.info("gRPC (Open Inference Protocol, health, reflection) on %s:%d", _config.host, _config.grpc_port)


# A worker stops: its gRPC calls in flight finish (the gevent worker began draining at SIGTERM).
def worker_exit(server, worker):
    running = getattr(worker, "nbs2i_grpc", None)
    if running is not None:
        running.stop(_config.graceful_timeout).wait(_config.graceful_timeout)


# No control socket: nothing uses it, and its default place ($HOME) is read-only in the
# restricted pods of deploy/ (readOnlyRootFilesystem).
control_socket_disable = True

errorlog = "-"
loglevel = "info"
accesslog = "-" if _config.access_log else None
# One JSON object per request, every field escaped by a JSON encoder (nbs2i_service/accesslog.py).
logger_class = "nbs2i_service.accesslog.JsonAccessLogger"
# The worker holds bodies to NBS2I_MAX_REQUEST_BYTES; these bound the request line and headers.
limit_request_line = 8190
limit_request_fields = 100
