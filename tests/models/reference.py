"""Ground truth for calcviz's mathematics, as Python data (copied from the project's REFERENCE.md).

The values were computed independently of calcviz (sympy gradients, multi-start Newton polished in
high precision, Hessian eigenvalues) and checked against published test-function pages. Critical
point coordinates are good to about 1e-6. Tests import this module (``from reference import ...``);
nothing here imports calcviz, so a bug in the code under test cannot leak into the expected values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

COORD_TOL = 1e-6  # how far the published critical-point coordinates and values can be trusted

MIN, MAX, SADDLE = "min", "max", "saddle"


@dataclass(frozen=True)
class CriticalPoint:
    kind: str                                   # MIN, MAX or SADDLE
    x: float
    y: float
    f: float
    eigenvalues: tuple[float, ...] | None = None  # Hessian eigenvalues, ascending, when published


@dataclass(frozen=True)
class RefFunction:
    name: str
    formula: str                                # in calcviz's expression language
    box: tuple[tuple[float, float], tuple[float, float]]  # the search domain ((x0, x1), (y0, y1))
    critical_points: tuple[CriticalPoint, ...]  # every critical point in the box, when listed
    counts: dict | None = None                  # {MIN: n, MAX: n, SADDLE: n} when only counted
    only_critical_point: bool = False           # the listed point is the only one anywhere

    def point(self, kind: str) -> tuple[CriticalPoint, ...]:
        return tuple(p for p in self.critical_points if p.kind == kind)


HIMMELBLAU_POINTS = (
    CriticalPoint(MIN, 3.0, 2.0, 0.0),
    CriticalPoint(MIN, -2.805118, 3.131313, 0.0),
    CriticalPoint(MIN, -3.779310, -3.283186, 0.0),
    CriticalPoint(MIN, 3.584428, -1.848127, 0.0),
    CriticalPoint(MAX, -0.270845, -0.923039, 181.616522),
    CriticalPoint(SADDLE, 3.385154, 0.073852, 13.311926),
    CriticalPoint(SADDLE, 0.086678, 2.884255, 67.719150),
    CriticalPoint(SADDLE, -3.073026, -0.081353, 104.015163),
    CriticalPoint(SADDLE, -0.127961, -1.953715, 178.337239),
)

SPHERE = RefFunction("sphere", "x^2 + y^2", ((-5.0, 5.0), (-5.0, 5.0)),
                     (CriticalPoint(MIN, 0.0, 0.0, 0.0, (2.0, 2.0)),))
SADDLE_FN = RefFunction("saddle", "x^2 - y^2", ((-2.0, 2.0), (-2.0, 2.0)),
                        (CriticalPoint(SADDLE, 0.0, 0.0, 0.0, (-2.0, 2.0)),))
BOOTH = RefFunction("booth", "(x+2y-7)^2 + (2x+y-5)^2", ((-10.0, 10.0), (-10.0, 10.0)),
                    (CriticalPoint(MIN, 1.0, 3.0, 0.0, (2.0, 18.0)),))
ROSENBROCK = RefFunction("rosenbrock", "(1-x)^2 + 100(y-x^2)^2", ((-2.0, 2.0), (-1.0, 3.0)),
                         (CriticalPoint(MIN, 1.0, 1.0, 0.0, (0.39936, 1001.6006)),),
                         only_critical_point=True)
ROSENBROCK_EIGENVALUE_TOL = 1e-4  # the published eigenvalues have 5 significant figures
HIMMELBLAU = RefFunction("himmelblau", "(x^2+y-11)^2 + (x+y^2-7)^2", ((-5.0, 5.0), (-5.0, 5.0)),
                         HIMMELBLAU_POINTS)
RASTRIGIN = RefFunction("rastrigin", "20 + x^2 + y^2 - 10cos(2 pi x) - 10cos(2 pi y)",
                        ((-5.12, 5.12), (-5.12, 5.12)),
                        (CriticalPoint(MIN, 0.0, 0.0, 0.0),),  # the global minimum only
                        counts={MIN: 121, MAX: 100, SADDLE: 220})  # 441 critical points in the box

TEST_FUNCTIONS: dict[str, RefFunction] = {
    f.name: f for f in (SPHERE, SADDLE_FN, BOOTH, ROSENBROCK, HIMMELBLAU, RASTRIGIN)}

# Spot checks: (function name, (x, y), f, gradient)
SPOT_CHECKS = (
    ("himmelblau", (0.0, 0.0), 170.0, (-14.0, -22.0)),
    ("rosenbrock", (-1.0, 1.0), 4.0, (-4.0, 0.0)),
)

# ----------------------------------------------------------------------------- the seed's examples
# 1. Linear approximation (no critical point anywhere).
LINEAR_APPROX = {
    "formula": "log(e^x + e^y)",
    "point": {"x": 0.0, "y": math.log(2.0)},
    "value": math.log(3.0),                 # 1.0986123
    "gradient": {"x": 1.0 / 3.0, "y": 2.0 / 3.0},
    "eps": {"x": 0.01, "y": -0.03},
    "linear_value": 1.0819456,              # f + grad . eps  (to 1e-7)
    "true_value": 1.0821242,                # f(point + eps)  (to 1e-7)
    "has_critical_points": False,
}

# 2. One variable: f'(x) = 12x(x-2)(x+1).
ONE_VARIABLE = {
    "formula": "3x^4 - 4x^3 - 12x^2",
    "derivative": "12x*(x-2)*(x+1)",  # calcviz reads x(...) as a call: write x*(...)
    "critical_points": ((MIN, -1.0, -5.0),   # (kind, x, f): local min
                        (MAX, 0.0, 0.0),     # local max
                        (MIN, 2.0, -32.0)),  # global min
    "global_min": (2.0, -32.0),
}

# 3. Chain rule / backpropagation network.
CHAIN = {
    "formula": "a = (w+x+y+z)^2; b = (w+x-y-z)^2; u = (a+b)^2; v = (a-b)^2; f = (u+v)^2",
    "inputs": ("x", "y", "w", "z"),         # calcviz's order: x, y first, then by first appearance
    "point": {"w": -1.0, "x": 0.0, "y": -2.0, "z": 1.0},
    "intermediates": {"a": 4.0, "b": 0.0, "u": 16.0, "v": 16.0},
    "value": 1024.0,
    "partials": {"u": 64.0, "v": 64.0, "a": 1024.0, "b": 0.0},  # df/du, df/dv, df/da, df/db
    "gradient": {"w": -4096.0, "x": -4096.0, "y": -4096.0, "z": -4096.0},
}

# 4. Quadratic (Hessian) approximation. The book prints 2(x+1)^2 + 2y^2: a factor-of-2 slip.
QUADRATIC_APPROX = {
    "formula": "x e^(-x^2-y^2)",
    "point": {"x": -1.0, "y": 0.0},
    "value": -1.0 / math.e,
    "gradient": {"x": -1.0 / math.e, "y": 0.0},
    "hessian": ((2.0 / math.e, 0.0), (0.0, 2.0 / math.e)),
    # quadratic model: e^-1 (-1 - (x+1) + (x+1)^2 + y^2)
    "model": "e^-1 (-1 - (x+1) + (x+1)^2 + y^2)",
    "critical_points": (CriticalPoint(MAX, 1.0 / math.sqrt(2.0), 0.0, 0.4288819),
                        CriticalPoint(MIN, -1.0 / math.sqrt(2.0), 0.0, -0.4288819)),
}

# 5. Gradient descent: w <- w - eta grad L(w) converges near a minimum only when eta < 2 / lambda_max.
def max_stable_step(eigenvalues) -> float:
    return 2.0 / max(eigenvalues)


SEED_EXAMPLES = {"linear": LINEAR_APPROX, "one_variable": ONE_VARIABLE, "chain": CHAIN,
                 "quadratic": QUADRATIC_APPROX}

# ----------------------------------------------------------------------------- hard cases
# Every numeric path must survive these (no exception; NaN/inf where the math says so).
NOT_DIFFERENTIABLE = ("sqrt(x^2+y^2)", (0.0, 0.0))         # NaN/inf gradient through autodiff
OUTSIDE_DOMAIN = ("log(x)", "sqrt(x)", "1/x")              # over a box that crosses x = 0
OVERFLOW = ("exp(50*x)", ((-5.0, 5.0), (-5.0, 5.0)))
UNDERFLOW_FLAT = "exp(-(x^2+y^2)*100)"                     # gradient underflows to 0 far out
DEGENERATE = (("x^3 - 3x y^2", (0.0, 0.0)), ("x^4 + y^4", (0.0, 0.0)))  # singular Hessian
DIVERGENCE = {"function": "rosenbrock", "lr": 0.01, "start": (-1.5, 2.0)}  # fixed-step descent blows up

# 3b. The chain network as a graph (issue 7), derived by hand at CHAIN["point"]: s = w+x+y+z = -2,
# t = w+x-y-z = 0. Local partials: da/d(w,x,y,z) = 2s = -4 each; db/dw = db/dx = 2t = 0, db/dy = db/dz = -2t = 0;
# du/da = du/db = 2(a+b) = 8; dv/da = 2(a-b) = 8, dv/db = -2(a-b) = -8; df/du = df/dv = 2(u+v) = 64.
# Each input has 4 paths to f (via a or b, then u or v); via a each product is -4*8*64 = -2048, via b 0.
# Operation counts: 14 edges (4 into a, 4 into b, a,b into u and v, u,v into f). A forward tangent pass
# from one input carries 8 of them (its 2 edges into a and b, then the 6 from a, b, u, v): 4 inputs x 8 = 32.
# The reverse pass carries each of the 14 edges once.
CHAIN_NETWORK = {
    "local_partials": {
        "a": {"w": -4.0, "x": -4.0, "y": -4.0, "z": -4.0},
        "b": {"w": 0.0, "x": 0.0, "y": 0.0, "z": 0.0},
        "u": {"a": 8.0, "b": 8.0},
        "v": {"a": 8.0, "b": -8.0},
        "f": {"u": 64.0, "v": 64.0},
    },
    "paths_per_input": (("a", "u"), ("a", "v"), ("b", "u"), ("b", "v")),  # input -> .. -> f
    "path_products": (-2048.0, -2048.0, 0.0, 0.0),
    "operations": {"edges": 14, "inputs": 4, "forward_mode": 32, "reverse_mode": 14},
}

# 6. Matrix calculus (the chapter's last section), with x, beta vectors, A, X, U, V matrices:
#   d/dx (beta^T x) = beta;  d/dx (x^T A x) = (A + A^T) x  (= 2Ax only when A is symmetric);
#   d/dV ||X - UV||_F^2 = -2 U^T (X - UV);  d/dU ||X - UV||_F^2 = -2 (X - UV) V^T;  d/dX ||X - UV||_F^2 = 2 (X - UV).
# A gradient has the shape of the variable it is taken with respect to. Each identity: the formula as the
# book writes it, the shapes (symbolic), and the closed forms as numpy functions of the inputs (plain numpy
# written from the lines above, nothing of calcviz) and as the text a student would type to check them.
def _residual(X, U, V):
    return X - U @ V


MATRIX_IDENTITIES = {
    "linear": {"formula": "beta^T x", "shapes": {"beta": "n", "x": "n"},
               "value": lambda beta, x: beta @ x,
               "gradient": {"x": lambda beta, x: beta, "beta": lambda beta, x: x},
               "derivatives": {"x": "beta", "beta": "x"}},
    "quadratic": {"formula": "x^T A x", "shapes": {"x": "n", "A": "n x n"},
                  "value": lambda x, A: x @ A @ x,
                  "gradient": {"x": lambda x, A: (A + A.T) @ x, "A": lambda x, A: np.outer(x, x)},
                  "derivatives": {"x": "(A + A^T) x", "A": "x x^T"}},
    "factorization": {"formula": "||X - UV||^2", "shapes": {"X": "m x n", "U": "m x k", "V": "k x n"},
                      "value": lambda X, U, V: float(np.sum(_residual(X, U, V) ** 2)),
                      "gradient": {"X": lambda X, U, V: 2 * _residual(X, U, V),
                                   "U": lambda X, U, V: -2 * _residual(X, U, V) @ V.T,
                                   "V": lambda X, U, V: -2 * U.T @ _residual(X, U, V)},
                      "derivatives": {"X": "2 (X - UV)", "U": "-2 (X - UV) V^T", "V": "-2 U^T (X - UV)"}},
}
