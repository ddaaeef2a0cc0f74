"""Long syncs that resume instead of starting over, and hand on instead of running for hours.

A sync lists in pieces (consumers.listing). After each piece, Resumable.save writes where the
sync stands (each listing's rest, its counts, what it measured before listing) as a checkpoint
and commits it with the data the piece wrote. A retried or redelivered message of the same run
finds it and carries on; so does the continuation a sync publishes when it has used its time
(consumers.pipeline.HandOn). The checkpoint is deleted in the transaction that completes the
sync.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import structlog

from consumers.listing import Listed, Pieces
from consumers.pipeline import AccountBusy, Context, HandOn
from domain.listing import PageMark, PieceTrail, across_pieces
from domain.spans import Span
from infra.db.checkpoints import Checkpoint
from infra.harvest.client import ListedPage

log = structlog.get_logger(__name__)

ListPiece = Callable[[Span, Pieces | None], Listed]
AfterPiece = Callable[[Listed], None]

# A checkpoint every tenth of a listing, every PIECE_PAGES pages at least: a killed worker
# loses at most that much. A checkpoint costs a commit, no request, unless the listing stops
# there (a resumed or handed-on listing reads its stop day again).
PIECE_PAGES = 10
PIECES = 10
# A checkpoint of another run that has not moved for this long is abandoned: that run died (its
# message dead-lettered, say). Until then a new run waits for it rather than starting over.
OTHER_RUN_STALE_S = 3600.0


@dataclass
class Resumable:
    """One sync's checkpoint: `scope` names what it covers (the actuals sync, a backfill
    part); `state` is what was saved, {} for a sync that starts afresh."""

    ctx: Context
    scope: str
    state: dict[str, Any]
    stats: Counter
    per_page: int = 2000  # what the listings ask of Harvest: how their sizes are measured
    # Whether a checkpoint of this scope is stored (found at open, or saved since): a sync
    # done at one go, without one, has none to delete.
    stored: bool = False

    @classmethod
    def open(cls, ctx: Context, scope: str, stats: Counter, *, per_page: int = 2000) -> Resumable:
        """The checkpoint of this run, or a fresh start; AccountBusy while another run's
        checkpoint is fresh (that run is still carrying on)."""
        return cls.from_saved(ctx, scope, stats, ctx.u.checkpoints.find(scope), per_page=per_page)

    @classmethod
    def from_saved(
        cls, ctx: Context, scope: str, stats: Counter, saved: Checkpoint | None, *, per_page: int = 2000
    ) -> Resumable:
        """As open(), given the scope's checkpoint as the caller read it (None: there is none)."""
        abandoned = False
        if saved is not None and saved.run_id != ctx.run_id:
            if saved.age_s < OTHER_RUN_STALE_S:
                raise AccountBusy(f"run {saved.run_id} is part way through {scope}; this run waits for it")
            log.warning("checkpoint_abandoned", scope=scope, run_id=saved.run_id, age_s=round(saved.age_s))
            saved = None
            abandoned = True
        if saved is None:
            # An abandoned checkpoint is still stored: this run's own replaces or deletes it.
            return cls(ctx, scope, {}, stats, per_page, stored=abandoned)
        stats.update(saved.state.get("stats", {}))
        stats["run.resumed"] += 1
        log.info("sync_resumed", scope=scope, run_id=ctx.run_id, checkpoints=stats["run.checkpoints"])
        return cls(ctx, scope, dict(saved.state), stats, per_page, stored=True)

    def remember(self, key: str, make: Any) -> Any:
        """A value measured once per run (e.g. a count taken before listing): the saved one
        on resume, else `make()`, kept for the next save."""
        if key not in self.state:
            self.state[key] = _plain(make())
        return self.state[key]

    def listing(self, phase: str, span: Span) -> Listed:
        """Where the listing `phase` stands: not begun, part way, or done (rest None)."""
        saved = self.state.get("listings", {}).get(phase)
        return _listed(saved) if saved is not None else Listed.to_do(span)

    def list_in_pieces(
        self, phase: str, span: Span, list_piece: ListPiece, after_piece: AfterPiece | None = None
    ) -> Listed:
        """The listing `phase` of `span`, from where it stands, with checkpoints as it goes.
        `list_piece(rest, pieces)` lists; `after_piece(piece)` needs the listing cut at each
        checkpoint and runs before it (e.g. deletions in what the piece read completely)."""
        so_far = self.listing(phase, span)
        while so_far.rest is not None:
            piece = list_piece(so_far.rest, _Checkpoints(self, phase, so_far, cut=after_piece is not None))
            if after_piece is not None:
                after_piece(piece)
            so_far = so_far.then(piece)
            # A listing done at one go, without a checkpoint, is cheap to do again.
            if piece.rest is not None or phase in self.state.get("listings", {}):
                self._save(phase, so_far)
        return self._across_pieces(phase, so_far, list_piece)

    def _across_pieces(self, phase: str, listed: Listed, list_piece: ListPiece) -> Listed:
        """List again what a change read by a later piece shows an earlier one may have
        skipped, and what a piece cut short by a crash did not repair (once the listing is
        complete: the trail is then whole)."""
        if len(listed.trail) < 2 and all(p.repaired for p in listed.trail):
            return listed
        resolved = listed.resolved
        for span in across_pieces(listed.trail):
            self.stats["listing.shifted_across_pieces"] += 1
            resolved = list_piece(span, None).resolved and resolved
        done = Listed(listed.started_at, listed.pages, resolved, covered=listed.covered)
        self._save(phase, done)
        return done

    def piece_pages(self, phase: str, page: ListedPage) -> int:
        """Pages between checkpoints: a tenth of the listing, PIECE_PAGES at least, measured on
        its first page and kept."""
        sizes = self.state.setdefault("piece_pages", {})
        if phase not in sizes and page.total_entries is not None:
            sizes[phase] = max(PIECE_PAGES, -(-page.total_entries // self.per_page) // PIECES)
        return sizes.get(phase, PIECE_PAGES)

    def _save(self, phase: str, listed: Listed, *, may_hand_on: bool = True) -> None:
        """Commit the checkpoint of `phase` with the data written so far; hand on if this
        message has used its time and there is more to do."""
        handing_on = may_hand_on and listed.rest is not None and self.ctx.time_left() <= 0
        self.stats["run.checkpoints"] += 1
        self.stats["run.handed_on"] += handing_on
        self.state.setdefault("listings", {})[phase] = _plain_listed(listed)
        self.state["stats"] = dict(self.stats)
        self.ctx.u.checkpoints.save(self.scope, self.ctx.run_id, _plain(self.state))
        self.stored = True
        self.ctx.commit_and_continue()
        if handing_on:
            raise HandOn(self.stats)

    def finish(self) -> None:
        """The sync is complete: its checkpoint goes with the transaction that says so. Under
        the run's lock no other run of the scope can have saved one since it was opened."""
        if self.stored:
            self.ctx.u.checkpoints.clear(self.scope)


@dataclass
class _Checkpoints:
    """The checkpoints of one listing of `phase` that began where `before` stood."""

    res: Resumable
    phase: str
    before: Listed
    cut: bool  # stop the listing at every checkpoint (its caller acts on each piece)

    def due(self, pages: int, page: ListedPage) -> bool:
        return pages >= self.res.piece_pages(self.phase, page) or self.res.ctx.time_left() <= 0

    def reached(self, so_far: Listed) -> bool:
        if self.cut:
            return True
        # Read on after the commit, unless this message's time is up: no request is spent
        # on a checkpoint that nothing interrupts.
        self.res._save(self.phase, self.before.then(so_far), may_hand_on=False)
        return self.res.ctx.time_left() <= 0


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _plain_listed(listed: Listed) -> dict[str, Any]:
    return {
        "started_at": listed.started_at,
        "pages": listed.pages,
        "resolved": listed.resolved,
        "rest": _plain_span(listed.rest),
        "trail": [
            {
                "span": _plain_span(p.span),
                "marks": [list(m.__dict__.values()) for m in p.marks],
                "changes": p.changes,
            }
            for p in listed.trail
        ],
    }


def _listed(saved: dict[str, Any]) -> Listed:
    return Listed(
        _moment(saved["started_at"]),
        saved["pages"],
        saved["resolved"],
        rest=_span(saved["rest"]),
        trail=tuple(
            PieceTrail(
                _span(p["span"]) or Span(None, None),
                tuple(
                    PageMark(total, _moment(at), _day(first), _day(last))
                    for total, at, first, last in p["marks"]
                ),
                tuple(datetime.fromisoformat(c) for c in p["changes"]),
                p.get("repaired", True),
            )
            for p in saved.get("trail", ())
        ),
    )


def _plain_span(span: Span | None) -> list | None:
    return None if span is None else [span.start, span.end]


def _span(saved: list | None) -> Span | None:
    return None if saved is None else Span(_day(saved[0]), _day(saved[1]))


def _day(saved: str | None) -> date | None:
    return date.fromisoformat(saved) if saved else None


def _moment(saved: str | None) -> datetime | None:
    return datetime.fromisoformat(saved) if saved else None
