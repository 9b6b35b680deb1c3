"""Federated training and evaluation across centres on Flower: each site keeps its rows.

``site`` answers from one store, ``coordinator`` drives a run over any transport,
``protocol`` defines and checks the messages, ``processes`` starts the Flower
SuperLink / SuperNodes / ``flwr run`` from ``.venv-federated``, ``flower_app`` is the
Flower App. Nothing here imports flwr except ``flower_app``.
"""
