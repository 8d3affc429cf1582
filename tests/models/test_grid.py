"""Reading grids: iso-lines, colour limits, the log scale, hover samples, the gradient field."""
import numpy as np
import pytest

from calcviz.models import grid


def mesh(n=101, lo=-2.0, hi=2.0):
    xs = np.linspace(lo, hi, n)
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    return xs, X, Y


def test_isoline_of_a_bowl_is_the_circle():
    xs, X, Y = mesh()
    (segments,) = grid.isolines(xs, xs, X**2 + Y**2, [1.0])
    radius = np.hypot(segments[..., 0], segments[..., 1])
    assert segments.shape[1:] == (2, 2) and len(segments) > 100
    assert np.abs(radius - 1.0).max() < 1e-3  # linear interpolation on a 0.04 grid
    # Closed curve: every end point is shared by an even number of segment ends (two, or four where the
    # circle passes exactly through a grid node such as (1, 0) and the cells around it meet there).
    ends, counts = np.unique(np.round(segments.reshape(-1, 2), 9), axis=0, return_counts=True)
    assert (counts % 2 == 0).all() and (counts == 2).mean() > 0.9


def test_saddle_zero_level_is_the_two_diagonals():
    xs, X, Y = mesh(100)  # even: no node on the diagonals' crossing
    (segments,) = grid.isolines(xs, xs, X**2 - Y**2, [0.0])
    points = segments.reshape(-1, 2)
    np.testing.assert_allclose(np.abs(points[:, 0]), np.abs(points[:, 1]), atol=1e-12)


def test_cells_touching_nan_are_skipped_and_levels_outside_give_nothing():
    xs, X, Y = mesh()
    values = np.where(X < 0, np.nan, X + Y)
    lines_inside, lines_outside = grid.isolines(xs, xs, values, [0.5, 100.0])
    assert len(lines_outside) == 0
    assert lines_inside[..., 0].min() >= 0.0 and np.isfinite(lines_inside).all()
    np.testing.assert_allclose(lines_inside[..., 0] + lines_inside[..., 1], 0.5, atol=1e-12)


def test_log_scale_for_huge_ranges_only():
    xs, X, Y = mesh()
    assert grid.needs_log_scale(np.exp(50 * X))
    assert not grid.needs_log_scale(X**2 + Y**2)
    assert not grid.needs_log_scale((1 - X) ** 2 + 100 * (Y - X**2) ** 2)
    np.testing.assert_allclose(grid.symlog(np.array([-99.0, 0.0, 9.0])), [-2.0, 0.0, 1.0])


def test_display_limits_ignore_nan_and_clip_extreme_tails():
    values = np.r_[np.linspace(0, 1, 1000), np.nan, np.inf, 1e9]
    lo, hi = grid.display_limits(values)
    assert 0 <= lo < 0.02 and 0.98 < hi <= 1.0
    assert grid.display_limits(np.array([np.nan, np.inf])) is None
    lo, hi = grid.display_limits(np.full(10, 3.0))  # a constant still gets a non-empty range
    assert lo < 3.0 < hi


def test_sample_is_the_nearest_node_and_none_outside():
    xs, X, Y = mesh(5)  # nodes at -2, -1, 0, 1, 2
    g = {"coords": [xs, xs], "value": X * 10 + Y, "d1": X, "d2": Y}
    s = grid.sample(g, 0.9, -1.2)
    assert (s["x"], s["y"], s["value"], s["gradient"]) == (1.0, -1.0, 9.0, (1.0, -1.0))
    assert grid.sample(g, 2.5, 0.0) is None


def test_problems_are_described_separately():
    text = grid.describe_problems(np.array([np.nan, np.inf, 1.0, 2.0]))
    assert "undefined (NaN) on 25.0%" in text and "infinite or beyond float32's ±3.4e38 on 25.0%" in text


@pytest.mark.parametrize("n", [7, 200])
def test_gradient_field_subsamples_finite_arrows(n):
    xs, X, Y = mesh(n)
    g = {"coords": [xs, xs], "d1": np.where(X > 1.5, np.nan, 2 * X), "d2": 2 * Y}
    x, y, gx, gy = grid.gradient_field(g, arrows_per_side=15)
    assert len(x) <= 15 * 15 and np.isfinite(gx).all()
    np.testing.assert_allclose(gx, 2 * x)
    np.testing.assert_allclose(gy, 2 * y)


def test_round_off_is_zeroed_against_its_scale():
    # The monkey saddle's gradient at its polished critical point, beside gradients of size ~1 over the box.
    assert grid.without_round_off([-7.6e-23, 4.8e-23], 1.0) == [0.0, 0.0]
    assert grid.without_round_off([2.25, -3e-13, 2e-12], 1.0) == [2.25, 0.0, 2e-12]
    assert grid.without_round_off([3e-13], 1e-3) == [3e-13]  # the same number is real beside a small scale
    assert grid.is_round_off(-3e-13, 1.0) and not grid.is_round_off(3e-13, 1e-3)
    assert not grid.is_round_off(0.0, None) and not grid.is_round_off(1e-300, 0.0)  # no scale: nothing is
    nan = grid.without_round_off([float("nan")], 1.0)[0]
    assert nan != nan  # undefined stays undefined
