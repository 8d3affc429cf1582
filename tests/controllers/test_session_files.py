"""Opening session files: what the loader accepts, the window shows completely; what it refuses, it
refuses with the field named, and nothing on screen changes. Property-based over hostile edits of a
real saved session (issue "Nothing lost, never stuck")."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from calcviz.controllers import files as files_module
from calcviz.models import storage
from calcviz.models.settings import TOP_LEVEL_KEYS, settings_of, strict_json
from conftest import Rig, emit

FORMULA = "a*(x^2 + y - 11)^2 + (x + y^2 - 7)^2"


@pytest.fixture(scope="module")
def saved(qapp, tmp_path_factory):
    """A real session saved by the window: a parameter, a point, toggles, a camera, a two-run race part
    way in, critical points."""
    r = Rig(FORMULA, x_range=(-5, 5), y_range=(-5, 5))
    s, w = r.session, r.window
    emit(w.contour.pointPicked, 1.0, 1.5)
    emit(w.actions["field"].toggled, True)
    emit(w.surface.cameraMoved, {"distance": 40.0, "elevation": 50.0, "azimuth": 10.0, "center": (0.0, 0.0, 5.0)})
    emit(w.descent.setupChanged, {"optimizers": ["gd", "adam"], "lr": 0.001, "max_steps": 8})
    emit(w.contour.startPicked, 0.5, -0.5)
    r.settle()
    s.race.advance(3)
    path = tmp_path_factory.mktemp("sessions") / "himmelblau.json"
    assert r.files.save_to(path)
    yield json.loads(path.read_text())
    r.close()


def paths(tree, prefix=()):
    """Every place in a JSON tree (a key of an object, an index of a list), the tree itself first."""
    yield prefix
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree[:3]):  # a few entries of each list are enough
            yield from paths(v, prefix + (i,))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1e308, -1.7e308, 5e-324, 0.0, -0.0])
    | st.text(max_size=30) | st.sampled_from(["x^2 + sin(y", "gd", "each", "min", "x", "", "é" * 5]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def put(tree, where, value):
    tree = json.loads(json.dumps(tree))
    if not where:
        return value
    node = tree
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = value
    return tree


def where_named(where) -> str:
    """How a refusal names a place: document.params.a.value, descent.result.runs[0].path[2]."""
    out = ""
    for k in where:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_a_hostile_field_is_shown_completely_or_refused_by_name(saved, rig, tmp_path_factory, data):
    everywhere = list(paths(saved))
    where = data.draw(st.sampled_from(everywhere), label="where")
    value = data.draw(JSON, label="value")
    edited = put(saved, where, value)
    folder = tmp_path_factory.mktemp("hostile")
    file = folder / "s.json"
    file.write_text(json.dumps(edited))

    r = rig("x^2 + y^2")
    last = files_module.data_folder() / files_module.LAST_SESSION
    r.files.save_last()
    last_text = last.read_text()
    before = (r.session.settings, dict(r.session.results))
    calls = len(r.window.method_calls)
    opened = r.files.open(file)
    if not opened:
        message = r.shown_status()
        assert message.startswith("Not opened: ")
        named = where_named(where)
        top = where[0] if where else None
        # the field at fault (or one that contains it, or the file as a whole) is named
        assert (top is None or top not in TOP_LEVEL_KEYS or named.split("[")[0].split(".")[0] in message
                or "not a calcviz session" in message or "newer calcviz" in message), (where, message)
        assert (r.session.settings, dict(r.session.results)) == before
        drawn = [c for c in r.window.method_calls[calls:] if c[0] not in ("show_status", "descent.set_message")]
        assert drawn == [], f"the views changed on a refused file: {drawn[:3]}"
    else:
        checked = storage.load_session(file)
        assert r.session.settings == settings_of(checked)  # shown completely
        race = r.session.race
        if checked.descent and checked.descent.result:
            assert race is not None and race.shown == checked.descent.shown_steps
        # what was accepted saves and opens again
        assert storage.parse_session(storage.session_to_text(r.session.file())) is not None
    assert last.read_text() == last_text  # opening never touches the last session


def test_every_top_level_key_of_a_saved_session_is_known(saved):
    assert set(saved) <= set(TOP_LEVEL_KEYS)
    assert math.isfinite(saved["document"]["params"]["a"]["value"])
    assert strict_json(saved) == saved
