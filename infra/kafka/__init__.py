"""Kafka publication: the relay puts every stored event on its county's topic, and a county
consumer builds views from that topic alone (README "Kafka").

- `client`: connection settings shared by producer, consumer and admin (security, SASL).
- `topics`: topic names and the routing of a unit code to its county's topic.
- `positions`: the relay's acknowledged position, kept in the event store's database.
- `pages`: a range of the log read and encoded, in the relay's process or a worker's.
- `relay`: store → Kafka, in order, with retries; exactly once after consumer de-duplication.
- `consumer`: a county topic → the views, offsets stored with the view rows.
"""
