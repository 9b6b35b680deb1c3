"""``federated``: several centres train and evaluate one model without pooling rows.

* ``federated serve`` — the coordinator's Flower SuperLink (sites connect to its address);
* ``federated join`` — one site: its store answers the coordinator's runs;
* ``federated run`` — the coordinator starts a run and waits for its summary;
* ``federated split`` — the demo consortium: one store per centre of a cohort.

TLS certificates and the consortium secret are required between hospitals;
``--insecure`` is refused on any address other than loopback (tests, the demo on one
machine). The Flower processes run from ``.venv-federated``
(``scripts/setup_federated.sh``); docs/operations.md describes the set-up.
"""
from __future__ import annotations

import argparse
import json
import time

from crlm import config
from crlm.cli.common import FOLDS, SEED, CliError, positive_int


def cmd_serve(args) -> int:
    from crlm.federated.processes import exec_in_foreground, serve_command

    cmd = serve_command(args.address, insecure=args.insecure, certificates=args.certificates)
    print(f"coordinator: sites join and runs are started at {args.address}. Ctrl+C stops it.",
          flush=True)
    return exec_in_foreground(cmd)


def cmd_join(args) -> int:
    from crlm.federated.processes import check_address, check_secret, check_site, join

    db = config.db_path(getattr(args, "db", None))
    check_site(db, args.cohort, args.site)
    check_address(args.coordinator, args.insecure)
    check_secret(args.secret_file, args.insecure)
    if not args.insecure and not args.root_certificates:
        raise CliError("give --root-certificates ca.crt (the consortium's CA) or, on loopback "
                       "only, --insecure")
    print(f"site {args.site}: store {db}, cohort {args.cohort}, coordinator {args.coordinator}. "
          "Ctrl+C leaves the consortium.", flush=True)
    return join(db, args.cohort, args.site, args.coordinator, insecure=args.insecure,
                root_certificate=args.root_certificates, secret_file=args.secret_file,
                log_path=args.log, log=None if args.verbose else (lambda text: None))


def cmd_run(args) -> int:
    from crlm.federated.processes import run_federated
    from crlm.federated.protocol import RunSpec

    run_id = args.run_id or time.strftime(f"{args.task}-{args.family}-%Y%m%dT%H%M%S")
    spec = RunSpec(run_id=run_id, task=args.task, family=args.family, folds=args.folds,
                   seed=args.seed, external_site=args.external_site or "",
                   max_rounds=args.max_rounds, on_dropout=args.on_dropout,
                   local_epochs=args.local_epochs, proximal_mu=float(args.proximal_mu))
    started = time.perf_counter()
    summary = run_federated(spec, args.coordinator, expected_sites=args.sites,
                            insecure=args.insecure, root_certificate=args.root_certificates,
                            secret_file=args.secret_file, wait_s=args.wait,
                            reply_timeout_s=args.reply_timeout)
    if args.json:
        print(json.dumps(summary, indent=1))
    if not summary.get("ok"):
        raise CliError(f"run {run_id} stopped: {summary.get('error', 'no reason given')}")
    metrics = summary.get("metrics", {})
    oof = metrics.get("out_of_fold", {})
    value = oof.get("auc", oof.get("c_index"))
    print(f"run {run_id}: sites {', '.join(summary['sites'])}"
          + (f" (dropped: {', '.join(summary['dropped'])})" if summary.get("dropped") else "")
          + f"; {sum(r['kind'] in ('newton', 'fedavg') for r in summary['rounds'])} "
          + ("FedAvg" if args.family in ("mlp", "deepsurv") else "Newton") + " rounds"
          + (f"; out-of-fold {'AUC' if 'auc' in oof else 'C-index'} {value:.3f}" if value is not None else "")
          + f"; registered in each site's store; {time.perf_counter() - started:.0f} s")
    return 0


def cmd_split(args) -> int:
    from crlm.cli.common import open_store
    from crlm.federated.demo import split_by_centre

    with open_store(args, create=False) as store:
        paths = split_by_centre(store, args.cohort, args.out)
    for centre, path in paths.items():
        print(f"{centre}: {path}")
    return 0


def _tls_args(p, *, server: bool = False) -> None:
    if server:
        p.add_argument("--certificates", metavar="DIR",
                       help="folder with ca.crt, server.pem and server.key")
    else:
        p.add_argument("--root-certificates", metavar="CA_CRT",
                       help="the consortium's CA certificate (ca.crt)")
        p.add_argument("--secret-file", metavar="FILE",
                       help="the consortium secret (32 bytes or more, chmod 600)")
    p.add_argument("--insecure", action="store_true",
                   help="no TLS, secret optional: loopback addresses only (tests, the demo)")


def register(sub) -> None:
    p = sub.add_parser("federated", help="several centres: serve, join, run a federated model")
    fsub = p.add_subparsers(dest="federated_command", metavar="ACTION", required=True)

    q = fsub.add_parser("serve", help="the coordinator (Flower SuperLink)")
    q.add_argument("--address", default="0.0.0.0:9092",
                   help="HOST:PORT the sites connect to (default 0.0.0.0:9092)")
    _tls_args(q, server=True)
    q.set_defaults(func=cmd_serve)

    q = fsub.add_parser("join", help="a site: answer the coordinator's runs from this store")
    q.add_argument("--db", default=argparse.SUPPRESS, help="this site's store")
    q.add_argument("--cohort", required=True, help="the cohort this site contributes")
    q.add_argument("--site", required=True, help="this site's name in the consortium (e.g. A)")
    q.add_argument("--coordinator", required=True, metavar="HOST:PORT")
    q.add_argument("--log", metavar="FILE", help="append the SuperNode's log to FILE")
    q.add_argument("-v", "--verbose", action="store_true", help="one line per message answered")
    _tls_args(q)
    q.set_defaults(func=cmd_join)

    q = fsub.add_parser("run", help="start a federated run on the coordinator and wait for it")
    q.add_argument("--coordinator", default="127.0.0.1:9092", metavar="HOST:PORT",
                   help="the coordinator's address (run this on the coordinator's machine)")
    q.add_argument("--task", required=True, help="e.g. response, os_risk")
    q.add_argument("--family", required=True, choices=["logistic", "cox", "mlp", "deepsurv"],
                   help="logistic, cox (Newton steps), mlp (FedAvg; binary tasks) or deepsurv "
                        "(FedAvg; survival tasks, stratified by site)")
    q.add_argument("--sites", required=True, type=positive_int(2, 100, "--sites"),
                   help="how many sites take part (the run waits for them)")
    q.add_argument("--external-site", help="a site held out as the external validation centre")
    q.add_argument("--folds", type=FOLDS, default=5)
    q.add_argument("--seed", type=SEED, default=20240601)
    q.add_argument("--max-rounds", type=positive_int(1, 200, "--max-rounds"), default=25)
    q.add_argument("--local-epochs", type=positive_int(1, 100, "--local-epochs"), default=1,
                   help="mlp, deepsurv: epochs each site trains per round (default 1)")
    q.add_argument("--proximal-mu", type=float, default=0.0,
                   help="mlp, deepsurv: FedProx proximal weight (default 0: plain FedAvg)")
    q.add_argument("--on-dropout", choices=["continue", "stop"], default="continue",
                   help="a site that stops answering: finish without it, or stop the run")
    q.add_argument("--run-id", help="the consortium run id (default: task-family-time)")
    q.add_argument("--wait", type=positive_int(1, 86400, "--wait"), default=120,
                   help="seconds to wait for the sites to join")
    q.add_argument("--reply-timeout", type=positive_int(1, 86400, "--reply-timeout"),
                   default=120, help="seconds a site has to answer a message")
    q.add_argument("--json", action="store_true", help="print the run's summary as JSON")
    _tls_args(q)
    q.set_defaults(func=cmd_run)

    q = fsub.add_parser("split", help="the demo consortium: one store per centre of a cohort")
    q.add_argument("--cohort", default="demo")
    q.add_argument("--out", required=True, metavar="DIR", help="folder for the site stores")
    q.set_defaults(func=cmd_split)
