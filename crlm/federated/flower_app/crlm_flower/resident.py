"""The resident executor of a site: one process that takes every ClientApp task of its
SuperNode, for the whole life of the site.

Flower's default SuperNode (``--isolation subprocess``) starts a new ``flwr-clientapp``
process for every message, which imports flwr and the Flower App again each time
(seconds per message on a busy machine; Flower issue #3670). ``crlm federated join``
starts the SuperNode with ``--isolation process`` instead and runs this loop against
its runtime API on 127.0.0.1: acquire a task, pull its message, answer it with
``client_app.answer`` (the site's worker does the work), push the reply and the task's
end. It runs only this installed code: a task of any other Flower App is answered
with an error, whatever app a run submits to the SuperLink.

    python -m crlm_flower.resident --runtime-api-address 127.0.0.1:PORT --parent-pid PID
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from flwr.app import Message
from flwr.common.constant import SubStatus
from flwr.proto.runtime_pb2 import AcquireTaskRequest  # pylint: disable=E0611
from flwr.supercore.constant import TaskType
from flwr.supercore.heartbeat import HeartbeatSender, make_task_heartbeat_fn_http
from flwr.supercore.interceptors import RuntimeTokenHttpInterceptor, RuntimeVersionHttpInterceptor
from flwr.supercore.retry import make_simple_http_retry_invoker
from flwr.supercore.runtime import RuntimeHttpClient
from flwr.supernode.runtime.run_clientapp import pull_task_input, push_message, push_task_output

from .client_app import answer, error
from .records import to_record

FAB_ID = "crlm/crlm-federated"


def _client(address: str, token: str | None = None) -> RuntimeHttpClient:
    interceptors = [RuntimeVersionHttpInterceptor(component_name="flwr-clientapp" if token
                                                  else "SuperExec")]
    if token:
        interceptors.append(RuntimeTokenHttpInterceptor(token))
    return RuntimeHttpClient.from_server_address(
        server_address=address, insecure=True, root_certificates=None,
        interceptors=interceptors, retry_invoker=make_simple_http_retry_invoker())


def run_task(address: str, token: str) -> None:
    client = _client(address, token)
    heartbeat = HeartbeatSender(make_task_heartbeat_fn_http(client))
    heartbeat.start()
    context, status, details = None, SubStatus.FAILED, "the site could not answer"
    try:
        message, context, run, _fab = pull_task_input(client)
        if run.fab_id != FAB_ID:
            site = str(context.node_config.get("site", "?"))
            reply = Message(content=to_record(error(site, f"site {site}: runs only {FAB_ID}, "
                                                    f"not {run.fab_id or 'an unnamed app'}")),
                            reply_to=message)
        else:
            reply = answer(message, context.node_config)
        push_message(client, reply, context)
        status, details = SubStatus.COMPLETED, ""
    finally:
        push_task_output(client, context, status, details)
        heartbeat.stop()
        client.close()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runtime-api-address", required=True)
    p.add_argument("--parent-pid", type=int)
    p.add_argument("--poll-s", type=float, default=0.05)
    args = p.parse_args(argv)
    host = args.runtime_api_address.rpartition(":")[0]
    if host not in ("127.0.0.1", "localhost", "[::1]"):
        print("the runtime API must be on 127.0.0.1", file=sys.stderr)
        return 2
    poller = _client(args.runtime_api_address)
    request = AcquireTaskRequest(supported_task_types=[str(TaskType.CLIENT_APP)])
    while args.parent_pid is None or _alive(args.parent_pid):
        try:
            res = poller.AcquireTask(request)
        except Exception as exc:  # noqa: BLE001 - the SuperNode may be starting or gone
            print(f"resident: runtime API not reachable ({type(exc).__name__})", file=sys.stderr)
            time.sleep(1.0)
            continue
        if res.HasField("task") and res.token:
            try:
                run_task(args.runtime_api_address, res.token)
            except Exception as exc:  # noqa: BLE001 - one failed task does not end the site
                print(f"resident: task {res.task.task_id} failed: {exc}", file=sys.stderr)
            continue
        time.sleep(args.poll_s)
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


if __name__ == "__main__":
    sys.exit(main())
