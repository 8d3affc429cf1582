"""directional_profile: D_v f = grad f . v for v = (cos a, sin a), at one angle and over all angles."""
import math

import numpy as np
import pytest

from calcviz.models.directional import directional_profile


def test_gradient_3_4_at_90_degrees():
    p = directional_profile((3, 4), 90)
    assert p["gradient"] == (3.0, 4.0)
    assert p["norm"] == 5.0
    assert p["angle"] == 90.0
    assert p["direction"] == (0.0, 1.0)  # exact at quarter turns, not (6e-17, 1)
    assert p["value"] == 4.0             # = df/dy
    assert p["zero"] is False and p["defined"] is True


def test_extremes_are_along_and_opposite_the_gradient():
    p = directional_profile((3, 4), 0)
    along = math.degrees(math.atan2(4, 3))  # 53.130...
    assert p["max_angle"] == pytest.approx(along)
    assert p["max_value"] == 5.0
    assert p["min_angle"] == pytest.approx(along + 180)
    assert p["min_value"] == -5.0
    # The value at the extremes' angles is +-|g|.
    assert directional_profile((3, 4), p["max_angle"])["value"] == pytest.approx(5.0)
    assert directional_profile((3, 4), p["min_angle"])["value"] == pytest.approx(-5.0)
    # Across the gradient it is zero.
    assert directional_profile((3, 4), along + 90)["value"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("angle, expected", [(0, 3.0), (90, 4.0), (180, -3.0), (270, -4.0), (45, 7 / math.sqrt(2))])
def test_value_is_dot_product(angle, expected):
    assert directional_profile((3, 4), angle)["value"] == pytest.approx(expected)


def test_curve_samples_every_degree_by_default():
    p = directional_profile((3, 4), 30)
    assert p["angles"].shape == p["values"].shape == (361,)
    assert p["angles"][0] == 0.0 and p["angles"][-1] == 360.0
    assert p["angles"][1] == 1.0
    np.testing.assert_allclose(p["values"], 3 * np.cos(np.radians(p["angles"])) + 4 * np.sin(np.radians(p["angles"])),
                               atol=1e-12)
    assert p["values"][90] == 4.0 and p["values"][180] == -3.0
    # The sampled curve peaks next to the exact maximum (53.13 degrees -> sample 53).
    assert p["angles"][np.argmax(p["values"])] == 53.0
    assert p["angles"][np.argmin(p["values"])] == 233.0
    assert p["values"].max() <= 5.0 and p["values"].min() >= -5.0


def test_samples_argument():
    p = directional_profile((1, 0), 0, samples=5)
    np.testing.assert_array_equal(p["angles"], [0, 90, 180, 270, 360])
    np.testing.assert_array_equal(p["values"], [1, 0, -1, 0, 1])


@pytest.mark.parametrize("given, wrapped", [(360, 0.0), (450, 90.0), (-90, 270.0), (-1e-20, 0.0), (720.5, 0.5)])
def test_angle_wraps_into_0_360(given, wrapped):
    assert directional_profile((3, 4), given)["angle"] == pytest.approx(wrapped)


def test_gradient_along_negative_x_axis():
    p = directional_profile((-2, 0), 0)
    assert p["max_angle"] == 180.0 and p["max_value"] == 2.0
    assert p["min_angle"] == 0.0 and p["min_value"] == -2.0
    assert p["value"] == -2.0


def test_gradient_pointing_down_has_max_in_0_360():
    p = directional_profile((0, -1), 0)
    assert p["max_angle"] == 270.0
    assert p["min_angle"] == 90.0


def test_zero_gradient_has_no_unique_direction():
    p = directional_profile((0, -0.0), 123)
    assert p["zero"] is True and p["defined"] is True
    assert p["norm"] == 0.0 and p["value"] == 0.0
    assert p["max_angle"] is None and p["min_angle"] is None
    assert p["max_value"] == 0.0 and p["min_value"] == 0.0
    assert not np.any(p["values"])
    assert "every direction" in p["note"]


def test_undefined_gradient():
    p = directional_profile((float("nan"), 1.0), 45)
    assert p["defined"] is False and p["zero"] is False
    assert math.isnan(p["value"]) and math.isnan(p["norm"])
    assert np.all(np.isnan(p["values"]))
    assert p["max_angle"] is None and p["min_angle"] is None
    assert "undefined" in p["note"]
    assert p["direction"] == pytest.approx((math.sqrt(0.5), math.sqrt(0.5)))


@pytest.mark.parametrize("gradient, angle, samples", [((1, 2, 3), 0, 361), ((1,), 0, 361), ((1, 2), float("nan"), 361),
                                                      ((1, 2), float("inf"), 361), ((1, 2), 0, 1)])
def test_bad_input_is_refused(gradient, angle, samples):
    with pytest.raises(ValueError):
        directional_profile(gradient, angle, samples)


def test_accepts_numpy_inputs():
    p = directional_profile(np.array([3.0, 4.0], dtype=np.float32), np.float64(90.0))
    assert p["value"] == 4.0
    assert isinstance(p["max_value"], float)
