"""Engine results written out by hand, for the storage and session-file tests (no TensorFlow)."""
from __future__ import annotations

import math


def gd_run(start, lr: float, steps: int) -> dict:
    """Plain gradient descent on x^2 + y^2, by hand: g = 2p, p_{k+1} = p_k - lr g = (1 - 2 lr) p_k."""
    path = []
    x, y = start
    for k in range(steps + 1):
        g = (2 * x, 2 * y)
        last = k == steps
        path.append({"step": k, "point": {"x": x, "y": y}, "value": x * x + y * y,
                     "gradient": {"x": g[0], "y": g[1]}, "grad_norm": math.hypot(*g), "learning_rate": lr,
                     "update": None if last else {"x": -lr * g[0], "y": -lr * g[1]}})
        x, y = x - lr * g[0], y - lr * g[1]
    final = path[-1]
    return {"optimizer": "gd", "hyperparameters": {}, "learning_rate": lr, "schedule": {"name": "constant"},
            "start": {"x": start[0], "y": start[1]}, "status": "max_steps", "steps": steps,
            "message": f"stopped after {steps} steps", "point": final["point"], "value": final["value"],
            "grad_norm": final["grad_norm"], "stable_learning_rate": None, "path": path}


def gd_result() -> dict:
    return {"variables": ["x", "y"], "box": [[-5.0, 5.0], [-5.0, 5.0]],
            "runs": [gd_run((1.0, -2.0), 0.1, 6), gd_run((0.3, 0.7), 0.45, 4)],
            "params": {"a": 1.0}, "device": "CPU", "seconds": 0.01}


def critical_result() -> dict:
    """x^2 - y^2 on [-1, 1]^2: one saddle at the origin, Hessian diag(2, -2)."""
    return {"axes": ["x", "y"], "critical_points": [
        {"point": {"x": 0.0, "y": 0.0}, "value": 0.0, "type": "saddle", "eigenvalues": [-2.0, 2.0],
         "zero_eigenvalues": 0, "grad_norm": 0.0, "global_min": False, "global_max": False}],
        "complete": True, "note": "", "seeds": 2304, "device": "CPU", "seconds": 0.02}
