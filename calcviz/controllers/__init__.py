"""Controllers: one per feature, each wiring its views' intents to the Session and the Session's
events back to its views. They hold no state of their own beyond what wiring needs (timers), read
no widget, and compute nothing: the models do (models/session.py), the engine does (through
compute_bridge.py)."""
