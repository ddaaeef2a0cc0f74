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

from consumers.listing import Listed, PieceEnds
from consumers.pipeline import AccountBusy, Context, HandOn
from domain.listing import PageMark, PieceTrail, across_pieces
from domain.spans import Span
from infra.harvest.client import ListedPage

log = structlog.get_logger(__name__)

ListPiece = Callable[[Span, PieceEnds], Listed]
AfterPiece = Callable[[Listed], None]

# A piece is at least this many pages, and a tenth of its listing when that is more: each piece
# costs about two requests more (the page read ahead, the day read again), so ten pieces
# bound that cost, while a killed worker loses at most a piece.
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

    @classmethod
    def open(cls, ctx: Context, scope: str, stats: Counter, *, per_page: int = 2000) -> Resumable:
        """The checkpoint of this run, or a fresh start; AccountBusy while another run's
        checkpoint is fresh (that run is still carrying on)."""
        saved = ctx.u.checkpoints.find(scope)
        if saved is not None and saved.run_id != ctx.run_id:
            if saved.age_s < OTHER_RUN_STALE_S:
                raise AccountBusy(f"run {saved.run_id} is part way through {scope}; this run waits for it")
            log.warning("checkpoint_abandoned", scope=scope, run_id=saved.run_id, age_s=round(saved.age_s))
            saved = None
        if saved is None:
            return cls(ctx, scope, {}, stats, per_page)
        stats.update(saved.state.get("stats", {}))
        stats["run.resumed"] += 1
        log.info("sync_resumed", scope=scope, run_id=ctx.run_id, pieces=stats["run.pieces"])
        return cls(ctx, scope, dict(saved.state), stats, per_page)

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
        """The listing `phase` of `span`, piece by piece from where it stands, each piece
        committed with a checkpoint. `list_piece(rest, piece_ends)` lists one piece;
        `after_piece(piece)` runs before its checkpoint (e.g. deletions in what it covered)."""
        so_far = self.listing(phase, span)
        while so_far.rest is not None:
            piece = list_piece(so_far.rest, self._piece_ends(phase))
            if after_piece is not None:
                after_piece(piece)
            so_far = so_far.then(piece)
            # A listing done in one piece is cheap to do again: it needs no checkpoint.
            if piece.rest is not None or phase in self.state.get("listings", {}):
                self._save(phase, so_far)
        return self._across_pieces(phase, so_far, list_piece)

    def _across_pieces(self, phase: str, listed: Listed, list_piece: ListPiece) -> Listed:
        """List again what a change read by a later piece shows an earlier one may have
        skipped (once the listing is complete: the trail is then whole)."""
        if len(listed.trail) < 2:
            return listed
        resolved = listed.resolved
        for span in across_pieces(listed.trail):
            self.stats["listing.shifted_across_pieces"] += 1
            resolved = list_piece(span, None).resolved and resolved
        done = Listed(listed.started_at, listed.pages, resolved, covered=listed.covered)
        self._save(phase, done)
        return done

    def _piece_ends(self, phase: str) -> PieceEnds:
        sizes = self.state.setdefault("piece_pages", {})

        def ends(pages: int, page: ListedPage) -> bool:
            if phase not in sizes and page.total_entries is not None:
                # The first page of the listing tells its size; later pieces keep that size.
                whole = -(-page.total_entries // self.per_page)
                sizes[phase] = max(PIECE_PAGES, whole // PIECES)
            return pages >= sizes.get(phase, PIECE_PAGES) or self.ctx.time_left() <= 0

        return ends

    def _save(self, phase: str, listed: Listed) -> None:
        """Commit the checkpoint after a piece of `phase`, with the data it wrote; hand on if
        this message has used its time and there is more to do."""
        handing_on = listed.rest is not None and self.ctx.time_left() <= 0
        self.stats["run.pieces"] += 1
        self.stats["run.handed_on"] += handing_on
        self.state.setdefault("listings", {})[phase] = _plain_listed(listed)
        self.state["stats"] = dict(self.stats)
        self.ctx.u.checkpoints.save(self.scope, self.ctx.run_id, _plain(self.state))
        self.ctx.commit_and_continue()
        if handing_on:
            raise HandOn(self.stats)

    def finish(self) -> None:
        """The sync is complete: its checkpoint goes with the transaction that says so."""
        self.ctx.u.checkpoints.clear(self.scope)


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
