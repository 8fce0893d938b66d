"""The recipes a station serves: the Inspector in service per recipe, and the one before it for rollback.

Workers read ``slot(name).current`` once per frame, so a swap takes effect between frames without a lock on
the frame path. A reload loads and smoke-tests the new bundle beside the running one; a failure raises and
leaves the running Inspector untouched. With a bundle public key, every bundle (initial load, reload) must carry
a valid signature by that key before it is loaded; rollback only swaps bundles that were verified when loaded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from edge.bundle import MANIFEST, BundleError
from edge.signing import load_verify_key, verify_signed_manifest


class InspectorLike(Protocol):
    """What the service needs of an Inspector (edge.inspector.Inspector satisfies it). ``bundle_sha256`` is the
    sha256 of the ``bundle.yaml`` it loaded: with a public key it must be the manifest whose signature was checked."""

    bundle_id: str
    bundle_sha256: str

    def inspect(self, cloud: Any, *, viewpoint: Any = None) -> Any: ...


Loader = Callable[[Path], InspectorLike]


@dataclass(frozen=True)
class Loaded:
    """An Inspector and where it came from."""

    inspector: InspectorLike
    path: Path
    loaded_at: float

    def describe(self) -> dict[str, Any]:
        return {"id": self.inspector.bundle_id, "sha256": self.inspector.bundle_sha256, "path": str(self.path),
                "loaded_at": self.loaded_at}


@dataclass
class Slot:
    """One recipe: the bundle in service and the previous one."""

    current: Loaded
    previous: Loaded | None = None


class Recipes:
    """Loads, swaps and rolls back bundles per recipe; one reload or rollback at a time."""

    def __init__(self, loader: Loader, public_key: Path | None = None) -> None:
        """``public_key``: ed25519 public key file; when set, bundles without a valid signature by it are refused
        (an unreadable key file raises BundleError here, so a misconfigured station fails at start)."""
        self._loader = loader
        self._verify_key = load_verify_key(public_key) if public_key is not None else None
        self._slots: dict[str, Slot] = {}
        self._lock = threading.Lock()
        self.last_reloaded: str | None = None
        self.sensitivity: dict[str, float] = {}
        """Run-time sensitivity per recipe set by the station file or the control socket; it outlives reloads."""

    def load_all(self, bundles: dict[str, Path]) -> None:
        """Initial load of every recipe; raises BundleError naming the first that fails."""
        for name, path in bundles.items():
            self._slots[name] = Slot(self._load(path))
            self._apply_sensitivity(name)

    def names(self) -> list[str]:
        return list(self._slots)

    def current(self, name: str) -> Loaded | None:
        slot = self._slots.get(name)
        return slot.current if slot is not None else None

    def reload(self, path: Path, recipe: str | None = None) -> tuple[str, Loaded]:
        """Load ``path`` beside the running bundle of its recipe and swap it in; raise BundleError on failure."""
        name = recipe or recipe_of(path)
        if name not in self._slots:
            raise BundleError(f"{path}: bundle is for recipe '{name}', which this station does not serve "
                              f"(serves: {', '.join(self._slots)})")
        with self._lock:
            loaded = self._load(path)
            slot = self._slots[name]
            self._slots[name] = Slot(current=loaded, previous=slot.current)
            self.last_reloaded = name
            self._apply_sensitivity(name)
        return name, loaded

    def rollback(self, recipe: str | None = None) -> tuple[str, Loaded]:
        """Swap the previous bundle of ``recipe`` (default: the last reloaded) back into service."""
        with self._lock:
            name = recipe or self.last_reloaded or (self.names()[0] if len(self._slots) == 1 else None)
            if name is None:
                raise BundleError("rollback: name the recipe (nothing was reloaded yet)")
            slot = self._slots.get(name)
            if slot is None:
                raise BundleError(f"rollback: unknown recipe '{name}'")
            if slot.previous is None:
                raise BundleError(f"rollback: recipe '{name}' has no previous bundle")
            self._slots[name] = Slot(current=slot.previous, previous=slot.current)
            self._apply_sensitivity(name)
        return name, self._slots[name].current

    def set_sensitivity(self, name: str, value: float) -> float:
        """Change the run-time sensitivity of recipe ``name`` without a reload; the value it replaces."""
        slot = self._slots.get(name)
        if slot is None:
            raise BundleError(f"sensitivity: unknown recipe '{name}' (serves: {', '.join(self._slots)})")
        with self._lock:
            previous = slot.current.inspector.sensitivity
            slot.current.inspector.set_sensitivity(value)
            self.sensitivity[name] = float(value)
        return previous

    def _apply_sensitivity(self, name: str) -> None:
        if name in self.sensitivity:
            self._slots[name].current.inspector.set_sensitivity(self.sensitivity[name])

    def describe(self) -> dict[str, Any]:
        return {name: {"bundle": s.current.describe(), "previous": s.previous.describe() if s.previous else None,
                       "sensitivity": getattr(s.current.inspector, "sensitivity", None)}
                for name, s in self._slots.items()}

    def _load(self, path: Path) -> Loaded:
        path = Path(path)
        if self._verify_key is None:
            return Loaded(self._loader(path), path, time.time())
        signed_sha256 = verify_signed_manifest(path, self._verify_key)
        inspector = self._loader(path)
        if inspector.bundle_sha256 != signed_sha256:
            raise BundleError(f"{path}: {MANIFEST} changed between the signature check and loading; try again")
        return Loaded(inspector, path, time.time())


def recipe_of(path: Path) -> str:
    """The recipe named in a bundle's manifest (only read to route the reload; loading verifies everything)."""
    try:
        manifest = yaml.safe_load((Path(path) / MANIFEST).read_text())
    except OSError as exc:
        raise BundleError(f"{path}: cannot read {MANIFEST}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise BundleError(f"{path}: {MANIFEST} is not valid YAML: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("recipe"), str):
        raise BundleError(f"{path}: {MANIFEST} names no recipe")
    return manifest["recipe"]
