"""Federated training and evaluation across centres on Flower: each site keeps its rows.

``site`` answers from one store, ``coordinator`` drives a run over any transport
(``mlp`` and ``deepsurv`` add FedAvg rounds for the networks), ``protocol`` defines and checks the
messages, ``wire`` turns them into signed frames, ``worker`` is a site's long-lived
answering process, ``processes`` starts the Flower SuperLink / SuperNodes / ``flwr
run`` from ``.venv-federated``, ``loopback`` runs a whole consortium on 127.0.0.1,
``runs`` tabulates the runs a store took part in, ``flower_app`` is the Flower App
(its ClientApp, ServerApp and the site's resident executor). Nothing here imports
flwr except ``flower_app``.
"""
