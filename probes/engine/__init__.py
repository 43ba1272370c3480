"""The runner: campaign (parent, watchdog, resume), worker, batch, measure (repetition, stopping, clocks), clocks and
environment. It loads probes by name through probes.catalogue; no probe imports it (the toolkit probes call is
probes/kernel/).
"""
