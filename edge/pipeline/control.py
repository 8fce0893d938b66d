"""Operator control: ``status``, ``reload``, ``rollback``, ``pause``, ``resume``, ``sensitivity`` on a loopback
REP socket.

The handler only translates requests into calls on the service (``ControlTarget``) and failures into
``{"ok": false, "error"}`` replies; the service does the work and logs it.
"""

from __future__ import annotations

from typing import Any, Protocol

from edge.bundle import BundleError

OPS = ("status", "reload", "rollback", "pause", "resume", "sensitivity")


class ControlTarget(Protocol):
    """What the control socket can ask of the service."""

    def status(self) -> dict[str, Any]: ...

    def reload(self, bundle: str | None = None, recipe: str | None = None) -> dict[str, Any]: ...

    def rollback(self, recipe: str | None = None) -> dict[str, Any]: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def set_sensitivity(self, recipe: str | None, value: float) -> dict[str, Any]: ...


class ControlHandler:
    """Request -> reply for the control socket."""

    def __init__(self, target: ControlTarget) -> None:
        self.target = target

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op not in OPS:
            return {"ok": False, "error": f"unknown op {op!r} (expected one of {', '.join(OPS)})"}
        for key in ("bundle", "recipe"):
            if key in request and not isinstance(request[key], str):
                return {"ok": False, "error": f"{key} must be a string, got {request[key]!r}"}
        try:
            if op == "status":
                return {"ok": True, **self.target.status()}
            if op == "reload":
                return self.target.reload(request.get("bundle"), request.get("recipe"))
            if op == "rollback":
                return {"ok": True, **self.target.rollback(request.get("recipe"))}
            if op == "sensitivity":
                value = request.get("value")
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
                    return {"ok": False, "error": f"value must be a number strictly between 0 and 1, got {value!r}"}
                return {"ok": True, **self.target.set_sensitivity(request.get("recipe"), float(value))}
        except BundleError as exc:
            return {"ok": False, "error": str(exc)}
        if op == "pause":
            self.target.pause()
        else:
            self.target.resume()
        return {"ok": True, "state": self.target.status()["state"]}
