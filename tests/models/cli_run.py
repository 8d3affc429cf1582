"""Running the CLI in-process for the CLI tests."""
import json

from calcviz import cli


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def strict_json(text: str):
    """JSON without NaN/Infinity tokens (every reader must accept the output)."""
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=refuse)
