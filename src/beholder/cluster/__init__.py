"""``beholder cluster up|status``: a whole distributed Beholder on one machine, for people
trying it and for the tests that kill its parts.

One command starts (or reuses) ``nats-server -js`` and the local PostgreSQL, migrates once,
runs ``beholder api`` ×N and ``beholder worker`` ×M as supervised children with one log file
each, puts nginx in front of the apis (one address for the browser) and writes
``<data-dir>/cluster.json`` naming every process. Parts:

- :mod:`.processes` spawns, watches and stops the children (process groups, reverse order);
- :mod:`.nats_server` finds or starts the JetStream server;
- :mod:`.database` creates the PostgreSQL database when missing and migrates it;
- :mod:`.proxy` renders the nginx configuration of the load balancer;
- :mod:`.state` is the ``cluster.json`` file; :mod:`.command` wires them into the CLI.
"""
