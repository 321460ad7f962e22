"""Which scenes a run uses: a pure function of the store's snapshot and the scenes found.

No disk, no database: :func:`plan_run` reads the snapshot's ``scenes`` and
``runs`` rows and its ``model_version`` setting, and the eligible scenes'
ids and dates.

* **seen**: the store lists the scene already (any status).
* **late**: not seen, but dated on or before the last date used (processed or
  cloudy): recorded as ``late``, never used (the baseline only moves forward).
* **new dates**: dates after it with at least one unseen scene; all eligible
  scenes of such a date are classified together as one observation.
* **corrupt**: a scene recorded ``corrupt`` counts as seen while its files'
  fingerprint (size, mtime) is the one recorded; once it changes (a re-download)
  the scene is unseen again and tried like any other.  A scene whose files cannot
  be opened at all (``unreadable``) is recorded ``corrupt`` unless it is seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..io.scenes import Scene, UnreadableScene
from .store import Snapshot

__all__ = ["RunPlan", "plan_run"]


@dataclass(frozen=True)
class RunPlan:
    """What one run will do.

    Attributes
    ----------
    seq, run_id
        The run's number (1-based) and id ``run-00001``.
    eligible
        The scenes the run considered, by (date, id).
    by_date
        ``eligible`` grouped by ISO date, dates in order.
    new_dates
        ISO dates to observe, in order.
    late
        Unseen scenes not newer than ``last_date`` (recorded, not used).
    seen
        Eligible scenes the store lists already.
    last_date
        The last date used (processed or cloudy), ``""`` before the first.
    last_obs
        The highest observation number in the store (0 before the first).
    model_version, stored_model_version
        The model of this run and the one the store's results came from.
    rebaseline
        The model changed and a rebaseline was asked for: the pixel baseline
        restarts from ``seed_date``.
    seed_date
        The last processed date (the rebaseline's seed), None if there is none.
    mixes_models
        The model changed, no rebaseline was asked for, its maps may differ from
        the store's model's, and there are new dates: the run must refuse.
    same_maps
        The model changed but gives the store's model's maps on every scene of
        the job (:func:`~landcover.monitor.inputs.check_maps`): the run goes
        on without a rebaseline and records the new model.
    sidecar_changed
        The model has the store's version but its sidecar now says other maps
        (:func:`~landcover.model.map_keys` edited in place): a model change.
    corrupt
        Scenes whose files cannot be opened, not seen with these files: recorded
        ``corrupt``, not used.
    fingerprints
        The fingerprint of each scene's files now, by scene id.
    """

    seq: int
    run_id: str
    eligible: tuple[Scene, ...]
    by_date: Mapping[str, tuple[Scene, ...]]
    new_dates: tuple[str, ...]
    late: tuple[Scene, ...]
    seen: tuple[Scene, ...]
    last_date: str
    last_obs: int
    model_version: str
    stored_model_version: str | None
    rebaseline: bool
    seed_date: str | None
    mixes_models: bool
    same_maps: bool = False
    sidecar_changed: bool = False
    corrupt: tuple[UnreadableScene, ...] = ()
    fingerprints: Mapping[str, str] = field(default_factory=dict)

    @property
    def model_changed(self) -> bool:
        """Whether this run's model differs from the store's (its version, or its sidecar
        edited in place)."""
        return self.stored_model_version != self.model_version or self.sidecar_changed

    @property
    def idle(self) -> bool:
        """Nothing to observe: no new date and no rebaseline (only late scenes, if any)."""
        return not self.new_dates and not self.rebaseline

    @property
    def new_scenes(self) -> tuple[Scene, ...]:
        """The scenes of the new dates, in order."""
        return tuple(s for d in self.new_dates for s in self.by_date[d])

    @property
    def seed_scenes(self) -> tuple[Scene, ...]:
        """The eligible scenes of ``seed_date`` (what a rebaseline classifies again)."""
        return tuple(self.by_date.get(self.seed_date, ())) if self.seed_date else ()


def plan_run(snap: Snapshot, eligible: Sequence[Scene], *, model_version: str,
             rebaseline: bool = False, unreadable: Sequence[UnreadableScene] = (),
             fingerprints: Mapping[str, str] | None = None,
             same_maps: bool = False, sidecar_changed: bool = False) -> RunPlan:
    """Sort the eligible scenes into new dates, late and seen ones.

    Parameters
    ----------
    snap
        The store's snapshot (``scenes``, ``runs`` and ``meta["model_version"]``
        are read; the pixel state is not).
    eligible
        The scenes over the bbox and inside the job's dates, by (date, id).
    model_version
        The model this run would use.
    rebaseline
        Whether the caller accepts a model other than the store's.
    unreadable
        The source's scenes whose files cannot be opened.
    fingerprints
        The fingerprint of each scene's files (eligible and unreadable), by id; a
        ``corrupt`` scene missing here counts as unchanged.
    same_maps
        Whether this run's model, if it is not the store's, gives the store's model's
        maps on every scene of the job (then it is no reason to refuse or rebaseline).
    sidecar_changed
        Whether the model, with the store's version, now has other map keys than the
        store's (counts as a model change).

    Returns
    -------
    RunPlan
    """
    seq = len(snap.runs) + 1
    fps = dict(fingerprints or {})
    # a corrupt scene stays seen until its files change (then it is tried again)
    known = {s["scene_id"] for s in snap.scenes
             if s["status"] != "corrupt" or fps.get(s["scene_id"], s["fingerprint"])
             == s["fingerprint"]}
    used = [s for s in snap.scenes if s["status"] in ("processed", "cloudy")]
    last_date = max((s["date"] for s in used), default="")
    last_obs = max((s["obs_number"] or 0 for s in snap.scenes), default=0)
    by_date: dict[str, list[Scene]] = {}
    for s in eligible:
        by_date.setdefault(s.acquired.isoformat(), []).append(s)
    late: list[Scene] = []
    new_dates: list[str] = []
    for d in sorted(by_date):
        fresh = [s for s in by_date[d] if s.id not in known]
        if not fresh:
            continue
        if d <= last_date:
            late += fresh
        else:
            new_dates.append(d)
    stored = snap.meta.get("model_version")
    changed = stored != model_version or sidecar_changed
    seed = [s for s in used if s["status"] == "processed"]
    return RunPlan(
        seq=seq, run_id=f"run-{seq:05d}", eligible=tuple(eligible),
        by_date={d: tuple(v) for d, v in sorted(by_date.items())},
        new_dates=tuple(new_dates), late=tuple(late),
        seen=tuple(s for s in eligible if s.id in known),
        last_date=last_date, last_obs=last_obs, model_version=model_version,
        stored_model_version=stored, rebaseline=bool(rebaseline and changed),
        seed_date=seed[-1]["date"] if seed else None,
        mixes_models=bool(changed and not rebaseline and new_dates and not same_maps),
        same_maps=bool(changed and not rebaseline and same_maps),
        sidecar_changed=bool(sidecar_changed and stored == model_version),
        corrupt=tuple(u for u in unreadable if u.id not in known), fingerprints=fps)
