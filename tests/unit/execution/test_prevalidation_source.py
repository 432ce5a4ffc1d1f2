"""Which items get launch-time validation: read from the entrypoint's source, never imported in the portal."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.execution.prevalidation import defines_validate, entry_module


@pytest.mark.parametrize(
    "source",
    [
        "def validate(inputs):\n    return inputs\n",
        "async def validate(inputs):\n    return inputs\n",
        "from checks import validate\n",
        "from checks import check as validate\n",
        "validate = lambda inputs: inputs\n",
        "try:\n    from checks import validate\nexcept ImportError:\n    def validate(x):\n        return x\n",
        "import os\nif os.name:\n    def validate(inputs):\n        return inputs\n",
    ],
)
def test_a_module_binding_validate_is_found(source: str) -> None:
    assert defines_validate(source)


@pytest.mark.parametrize(
    "source",
    [
        "def run(inputs):\n    return inputs\n",
        "def run(inputs):\n    def validate(x):\n        return x\n    return validate(inputs)\n",  # not top level
        "class Task:\n    def validate(self, inputs):\n        return inputs\n",
        "def validate(inputs:\n",  # cannot load: the job fails with the import error instead
    ],
)
def test_other_modules_are_not(source: str) -> None:
    assert not defines_validate(source)


def test_entry_modules_stay_inside_the_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "pkg").mkdir(parents=True)
    (bundle / "task.py").write_text("def run(inputs): ...\n")
    (bundle / "pkg" / "__init__.py").write_text("")
    (bundle / "pkg" / "jobs.py").write_text("def go(inputs): ...\n")
    assert entry_module(bundle, "task.py") == bundle / "task.py"
    assert entry_module(bundle, "task:run") == bundle / "task.py"
    assert entry_module(bundle, "pkg.jobs:go") == bundle / "pkg" / "jobs.py"
    assert entry_module(bundle, "pkg:go") == bundle / "pkg" / "__init__.py"
    outside = tmp_path / "secret.py"
    outside.write_text("def validate(inputs): ...\n")
    (bundle / "linked.py").symlink_to(outside)
    assert entry_module(bundle, "linked.py") is None  # a development folder's link to elsewhere is not read
    assert entry_module(bundle, "missing.py") is None
