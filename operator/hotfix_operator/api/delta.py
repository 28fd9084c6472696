"""The config delta: what differs between the pinned config and today's branch head."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ConfigDelta", "KeyDelta"]


class KeyDelta(BaseModel):
    """Keys of one ConfigMap or Secret that differ; Secret values are never shown."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    object: str = Field(description="The object, as Kind/name (e.g. ConfigMap/partner-api).")
    added: list[str] = Field(
        default_factory=list, description="Keys in today's head that the pinned config lacks."
    )
    removed: list[str] = Field(
        default_factory=list,
        description="Keys in the pinned config that today's head no longer has.",
    )
    changed: list[str] = Field(
        default_factory=list, description="Keys present in both with different values."
    )


class ConfigDelta(BaseModel):
    """Direction: from the pinned config (what the hotfix gets) to today's branch head."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    head_revision: str = Field(
        alias="headRevision", description="Commit of today's branch head that was compared."
    )
    objects_added: list[str] = Field(
        default_factory=list,
        alias="objectsAdded",
        description="Objects (Kind/name) only today's head has.",
    )
    objects_removed: list[str] = Field(
        default_factory=list,
        alias="objectsRemoved",
        description="Objects (Kind/name) only the pinned config has.",
    )
    objects_changed: list[str] = Field(
        default_factory=list,
        alias="objectsChanged",
        description="Objects (Kind/name) in both whose content differs.",
    )
    keys: list[KeyDelta] = Field(
        default_factory=list,
        description="Per ConfigMap/Secret present in both: the keys added, removed or changed.",
    )

    @property
    def empty(self) -> bool:
        return not (self.objects_added or self.objects_removed or self.objects_changed)
