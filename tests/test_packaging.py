"""Packaging checks: what hassfest, HACS and Home Assistant's loader expect of the files.

The rules come from Home Assistant 2026.10 (manifest schema, brand image names, the
runtime reading only ``translations/<lang>.json``) and from HACS' ``hacs.json`` schema.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
import re
import stat
import sys
from typing import TYPE_CHECKING, Any

from awesomeversion import AwesomeVersion
import homeassistant
from homeassistant.components.brands.const import ALLOWED_IMAGES
from homeassistant.const import __version__ as HA_VERSION
from packaging.requirements import Requirement
from PIL import Image
import pytest
import yaml

from custom_components.broute_meter.broute import PanDescriptor
from custom_components.broute_meter.const import DOMAIN
from simulator import Simulator

if TYPE_CHECKING:
    from types import ModuleType

    from homeassistant.core import HomeAssistant

ROOT = Path(__file__).resolve().parent.parent
INTEGRATION = ROOT / "custom_components" / "broute_meter"
PACKAGE_CONSTRAINTS = Path(homeassistant.__file__).parent / "package_constraints.txt"

# hassfest's custom-integration manifest must have these; HACS adds issue_tracker.
REQUIRED_MANIFEST_KEYS = {
    "domain",
    "name",
    "codeowners",
    "documentation",
    "iot_class",
    "version",
    "issue_tracker",
}
# HACS' repository manifest schema rejects any other key.
HACS_JSON_KEYS = {
    "name",
    "content_in_root",
    "filename",
    "hacs",
    "hide_default_branch",
    "homeassistant",
    "persistent_directory",
    "zip_release",
    "country",
    "render_readme",
}
BRAND_SIZES = {"icon.png": 256, "icon@2x.png": 512}
PLACEHOLDER = re.compile(r"\{(\w+)\}")
REFERENCE = re.compile(r"\[%key:[^%]+%\]")
SHA_PINNED = re.compile(r"^\s*(?:-\s*)?uses:\s*[\w.-]+/[\w./-]+@[0-9a-f]{40}\s+#\s*\S+")


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# --- manifest.json ------------------------------------------------------------------------


def test_manifest_has_required_keys_in_hassfest_order() -> None:
    manifest = _json(INTEGRATION / "manifest.json")
    keys = list(manifest)

    assert set(keys) >= REQUIRED_MANIFEST_KEYS
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert manifest["domain"] == INTEGRATION.name
    # "homeassistant" belongs in hacs.json; hassfest rejects it in the manifest.
    assert "homeassistant" not in manifest


def test_manifest_values_are_valid() -> None:
    manifest = _json(INTEGRATION / "manifest.json")

    assert manifest["config_flow"] is True
    assert manifest["iot_class"] == "local_polling"
    assert manifest["documentation"].startswith("https://")
    assert "home-assistant.io/integrations" not in manifest["documentation"]
    assert manifest["issue_tracker"].startswith("https://")
    assert AwesomeVersion(manifest["version"]).valid
    assert all(owner.startswith("@") for owner in manifest["codeowners"])
    # The usb integration attributes a port to an entry only with usb as a dependency.
    assert "usb" in manifest["dependencies"]
    # External statistics need the recorder set up first.
    assert "recorder" in manifest["dependencies"]


def test_manifest_requirements_fit_home_assistant_constraints() -> None:
    """A requirement the pinned constraint does not satisfy makes the integration unloadable."""
    pins: dict[str, str] = {}
    for line in PACKAGE_CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.split(";")[0].strip()

    requirements = [
        Requirement(req) for req in _json(INTEGRATION / "manifest.json")["requirements"]
    ]
    assert any(req.name == "serialx" for req in requirements)
    for req in requirements:
        pinned = pins.get(req.name.lower())
        if pinned is not None:
            assert req.specifier.contains(pinned), f"{req} conflicts with HA's {pinned}"


def test_usb_matchers_use_hassfest_casing() -> None:
    for matcher in _json(INTEGRATION / "manifest.json").get("usb", []):
        for key in ("vid", "pid"):
            if key in matcher:
                assert re.fullmatch(r"[0-9A-F]{4}", matcher[key]), matcher
        for key in ("manufacturer", "description", "serial_number"):
            if key in matcher:
                assert matcher[key] == matcher[key].lower(), matcher


# --- hacs.json -----------------------------------------------------------------------------


def test_hacs_json_is_minimal_and_valid() -> None:
    hacs = _json(ROOT / "hacs.json")

    assert set(hacs) <= HACS_JSON_KEYS
    assert hacs["name"] == "B-route Smart Meter (broute_meter)"
    assert hacs["homeassistant"] == "2026.10.0"
    # The minimum we claim must not be newer than what the tests run against.
    assert AwesomeVersion(hacs["homeassistant"]) <= AwesomeVersion(HA_VERSION)


# --- brand images -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "size"), sorted(BRAND_SIZES.items()))
def test_brand_image_sizes(name: str, size: int) -> None:
    with Image.open(INTEGRATION / "brand" / name) as image:
        assert image.format == "PNG"
        assert image.size == (size, size)


def test_brand_folder_holds_only_served_names() -> None:
    names = {path.name for path in (INTEGRATION / "brand").iterdir()}
    assert set(BRAND_SIZES) <= names
    # The brands endpoint only serves these names; anything else would never be shown.
    assert names <= ALLOWED_IMAGES


# --- translations -------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ja"])
def test_translations_match_strings(language: str) -> None:
    strings = _flatten(_json(INTEGRATION / "strings.json"))
    translation = _flatten(_json(INTEGRATION / "translations" / f"{language}.json"))

    assert set(translation) == set(strings)
    for key, text in translation.items():
        # At runtime only translations/ is read: a reference would show literally.
        assert not REFERENCE.search(str(text)), key
        assert set(PLACEHOLDER.findall(str(text))) == set(PLACEHOLDER.findall(str(strings[key]))), (
            key
        )


def test_english_translation_is_the_resolved_strings() -> None:
    strings = _flatten(_json(INTEGRATION / "strings.json"))
    english = _flatten(_json(INTEGRATION / "translations" / "en.json"))

    for key, text in strings.items():
        if not REFERENCE.search(str(text)):
            assert english[key] == text, key


def test_services_and_icons_have_translations() -> None:
    strings = _json(INTEGRATION / "strings.json")
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text(encoding="utf-8")) or {}
    for service, spec in services.items():
        assert strings["services"][service]["name"]
        for field in (spec or {}).get("fields", {}):
            assert strings["services"][service]["fields"][field]["name"]

    icons = _json(INTEGRATION / "icons.json")
    for platform, keys in icons.get("entity", {}).items():
        for key in keys:
            assert key in strings["entity"][platform], f"{platform}.{key}"
    for service in icons.get("services", {}):
        assert service in services


# --- scripts and CI -----------------------------------------------------------------------


@pytest.mark.parametrize("script", ["scripts/setup", "scripts/test", "scripts/develop", ".ci/run"])
def test_entry_scripts_are_executable(script: str) -> None:
    mode = (ROOT / script).stat().st_mode
    assert mode & stat.S_IXUSR, script
    assert (ROOT / script).read_text(encoding="utf-8").startswith("#!/usr/bin/env bash")


def test_ci_run_installs_the_toolchain_then_runs_the_tests() -> None:
    text = (ROOT / ".ci" / "run").read_text(encoding="utf-8")

    assert "set -euo pipefail" in text
    installer = text.index("../shared/toolchain/python3.14/install")
    assert installer < text.index("scripts/test")


def test_readme_gives_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in ("scripts/develop", "scripts/test"):
        assert re.search(rf"^\s*{re.escape(command)}\b", readme, re.MULTILINE), command
    # The test script is what CI runs, so it must sync the locked environment first.
    assert "uv sync --locked" in (ROOT / "scripts" / "setup").read_text(encoding="utf-8")


def test_workflow_actions_are_pinned_by_sha() -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert {path.name for path in workflows} >= {"validate.yml", "lint.yml", "tests.yml"}
    for path in workflows:
        text = path.read_text(encoding="utf-8")
        assert yaml.safe_load(text)["permissions"] == {}, path.name
        for line in text.splitlines():
            if re.match(r"^\s*(?:-\s*)?uses:", line):
                assert SHA_PINNED.match(line), f"{path.name}: {line.strip()}"


def test_no_machine_paths_in_tracked_text() -> None:
    """Shipped text speaks of the project only, never of the machine it was made on."""
    # The folder this checkout sits in, and a home directory, are this machine's.
    banned = re.compile("|".join(re.escape(p) for p in (f"{ROOT.parent}/", f"{Path.home()}/")))
    for base in (ROOT / "README.md", ROOT / "docs", INTEGRATION, ROOT / "scripts"):
        paths = [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file()]
        for path in paths:
            if path.suffix in {".png", ".pyc"} or "__pycache__" in path.parts:
                continue
            assert not banned.search(path.read_text(encoding="utf-8")), os.fspath(path)


# --- the demo's --auto files ----------------------------------------------------------------


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """scripts/demo.py, writing into a temporary config dir."""
    spec = importlib.util.spec_from_file_location("broute_demo", ROOT / "scripts" / "demo.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered while it runs: its dataclasses look their module up in sys.modules.
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "CONFIG_DIR", tmp_path)
    return module


async def test_demo_auto_files_load_in_home_assistant(
    demo: ModuleType, tmp_path: Path, hass_storage: dict[str, Any], hass: HomeAssistant
) -> None:
    """What --auto writes is read back by Home Assistant's own stores, shaped as the flow's."""
    from homeassistant.components.energy.data import async_get_manager

    sim = Simulator()  # never started: its meter's identity is all --auto needs
    meter = sim.config
    demo._write_config_entry("socket://127.0.0.1:40000", sim)
    # A second start on another port updates the entry instead of adding one.
    unique_id = demo._write_config_entry("socket://127.0.0.1:40001", sim)
    assert demo._write_energy_prefs(unique_id)
    assert not demo._write_energy_prefs(unique_id)  # never overwrites the user's choice

    for name in ("core.config_entries", "energy"):
        hass_storage[name] = json.loads((tmp_path / ".storage" / name).read_text("utf-8"))
    await hass.config_entries.async_initialize()

    entries = hass.config_entries.async_entries(DOMAIN)
    assert len(entries) == 1
    entry = entries[0]
    # The flow keys the entry by the meter MAC; --auto must agree or statistics would split.
    assert entry.unique_id == meter.mac.lower()
    assert entry.data["device"] == "socket://127.0.0.1:40001"
    assert (entry.data["rbid"], entry.data["password"]) == (sim.rbid, sim.password)
    pan = PanDescriptor.from_dict(entry.data["pan"])
    assert (pan.channel, pan.pan_id, pan.mac) == (meter.channel, meter.pan_id, meter.mac)

    manager = await async_get_manager(hass)
    assert manager.data is not None
    (grid,) = manager.data["energy_sources"]
    assert grid["type"] == "grid"
    assert grid["stat_energy_from"] == f"{DOMAIN}:{meter.mac.lower()}_energy_import"
    assert grid["stat_energy_to"] == f"{DOMAIN}:{meter.mac.lower()}_energy_export"


async def test_demo_http_port_is_kept_by_home_assistant(
    demo: ModuleType, tmp_path: Path, hass_storage: dict[str, Any], hass: HomeAssistant
) -> None:
    """The demo's HTTP port is Home Assistant's confirmed one: no trial, no revert."""
    from homeassistant.components.http.config import (
        STORAGE_KEY,
        ActiveConfigType,
        async_get_and_load_store,
        async_load_config,
    )

    demo._write_http_port(18124)
    demo._write_http_port(18125)  # a later start on another port replaces it
    hass_storage[STORAGE_KEY] = json.loads((tmp_path / ".storage" / STORAGE_KEY).read_text())

    conf = await async_load_config(hass, {})
    store = await async_get_and_load_store(hass)
    assert conf["server_port"] == 18125
    assert store.active_config_type is ActiveConfigType.STABLE
    assert store.pending is None
    assert store.revert_deadline is None  # nothing to restart on another port later


# --- README examples ------------------------------------------------------------------------


def _readme_yaml_blocks() -> list[Any]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)]


async def test_readme_automation_example_is_valid(hass: HomeAssistant) -> None:
    from homeassistant.components.automation.config import async_validate_config_item

    automations = [block for block in _readme_yaml_blocks() if "triggers" in block]
    assert automations
    for automation in automations:
        assert await async_validate_config_item(hass, "readme", automation) is not None


def test_readme_action_example_matches_services_yaml() -> None:
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text(encoding="utf-8"))
    calls = [
        block
        for block in _readme_yaml_blocks()
        if isinstance(block, dict) and str(block.get("action", "")).startswith(f"{DOMAIN}.")
    ]
    assert calls
    for call in calls:
        fields = services[call["action"].removeprefix(f"{DOMAIN}.")]["fields"]
        assert set(call.get("data", {})) <= set(fields)
        for name, value in call.get("data", {}).items():
            number = fields[name].get("selector", {}).get("number")
            if number is not None:
                assert number["min"] <= value <= number["max"]
