// Package adapters holds the payout service's stores: the JetStream event store of the
// ledgers with its snapshots, the PostgreSQL payout history (a projection), the bank and the
// catalog's product owners.
package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/payout/app"
	"github.com/moa-run/moa/services/payout/domain"
)

// SnapshotBucket is the key-value bucket of the ledger snapshots, one key per seller.
const SnapshotBucket = "payout_snapshots"

// ErrConflict is an append whose expected sequence is not the seller's last any more: another
// writer appended first. The caller reloads and decides again.
var ErrConflict = app.ErrConflict

var _ app.Store = (*Store)(nil)

// snapshotVersion is the layout of a snapshot's value. A snapshot of another version is
// ignored (the ledger is replayed from the start, and the next snapshot replaces it).
const snapshotVersion = 1

type snapshot struct {
	V      int            `json:"v"`
	Ledger *domain.Ledger `json:"ledger"`
}

// Store is the event store: one subject per seller on the PAYOUT stream, appends checked with
// the subject's expected last sequence, loads from the latest snapshot and the tail after it.
type Store struct {
	rt     *bus.Runtime
	codec  Codec
	kv     jetstream.KeyValue
	window int
	stream jetstream.Stream
}

// NewStore opens the store on the PAYOUT stream (which the host declared) and creates the
// snapshot bucket. window is how many recent entry ids a ledger remembers.
func NewStore(ctx context.Context, rt *bus.Runtime, codec Codec, window int) (*Store, error) {
	js := rt.JetStream()
	if err := rt.EnsureStreams(ctx, contracts.StreamPayout); err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, contracts.StreamPayout.Name)
	if err != nil {
		return nil, fmt.Errorf("payout: ledger stream: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: SnapshotBucket,
		Description: "latest snapshot of each seller's payout ledger", History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, fmt.Errorf("payout: snapshot bucket: %w", err)
	}
	return &Store{rt: rt, codec: codec, kv: kv, window: window, stream: st}, nil
}

// subject is the seller's ledger subject; seller must be a valid id (checked here too, since
// it goes into a subject).
func subject(seller string) (string, error) {
	if !contracts.IsUUID(seller) {
		return "", contracts.ErrValidation.OnField("seller_id", "seller_id must be a valid id")
	}
	return contracts.PayoutLedgerEvent.Subject(seller), nil
}

// Append stores e on its seller's subject if the subject's last sequence is still expected,
// and returns the entry's sequence. A duplicate inside the stream's window (the same entry id)
// returns the first one's sequence and dup set.
func (s *Store) Append(ctx context.Context, e domain.Entry, expected uint64) (seq uint64, dup bool, err error) {
	subj, err := subject(e.SellerID)
	if err != nil {
		return 0, false, err
	}
	env, _, err := bus.NewEnvelope(ctx, nil, contracts.PayoutService.Name, contracts.PayoutLedgerEvent, e.SellerID, Wire(e))
	if err != nil {
		return 0, false, err
	}
	env.ID = e.ID
	env.SchemaVersion = s.codec.Current
	return s.publish(ctx, subj, env, expected)
}

// AppendEnvelope stores an envelope as it is (tests write entries of older versions with it).
func (s *Store) AppendEnvelope(ctx context.Context, env contracts.Envelope, expected uint64) (uint64, bool, error) {
	subj, err := subject(env.Key)
	if err != nil {
		return 0, false, err
	}
	return s.publish(ctx, subj, env, expected)
}

func (s *Store) publish(ctx context.Context, subj string, env contracts.Envelope, expected uint64) (uint64, bool, error) {
	msg, err := bus.EnvelopeMsg(subj, env)
	if err != nil {
		return 0, false, err
	}
	ack, err := s.rt.JetStream().PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(expected))
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
			return 0, false, ErrConflict
		}
		return 0, false, contracts.ErrUnavailable.Msg("appending to the payout ledger: %v", err).Wrap(err)
	}
	return ack.Sequence, ack.Duplicate, nil
}

// Load returns seller's ledger: the latest snapshot, then the entries stored after it.
func (s *Store) Load(ctx context.Context, seller string) (*domain.Ledger, error) {
	return s.load(ctx, seller, true)
}

// Replay returns seller's ledger folded from the first entry, ignoring the snapshot.
func (s *Store) Replay(ctx context.Context, seller string) (*domain.Ledger, error) {
	return s.load(ctx, seller, false)
}

func (s *Store) load(ctx context.Context, seller string, useSnapshot bool) (*domain.Ledger, error) {
	subj, err := subject(seller)
	if err != nil {
		return nil, err
	}
	l := domain.NewLedger(seller, s.window)
	if useSnapshot {
		if snap, err := s.snapshot(ctx, seller); err != nil {
			return nil, err
		} else if snap != nil {
			l = snap
		}
	}
	last, err := s.stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return l, nil
	}
	if err != nil {
		return nil, contracts.ErrUnavailable.Msg("reading the payout ledger: %v", err).Wrap(err)
	}
	if last.Sequence <= l.Seq {
		return l, nil
	}
	if !useSnapshot {
		// A replay from the start (tests, diagnostics) streams through a consumer.
		return l, s.Scan(ctx, subj, 1, last.Sequence, func(e domain.Entry, seq uint64) error {
			l.Apply(e, seq)
			return nil
		})
	}
	// The tail after a snapshot is short (SNAPSHOT_EVERY entries at most, unless a snapshot
	// failed): it is read message by message, which leaves nothing on the server and needs no
	// consumer (a filtered consumer's create subject names the seller, which the service's
	// NATS user is not allowed to publish to).
	for seq := l.Seq + 1; seq <= last.Sequence; {
		m, err := s.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if err != nil {
			return nil, contracts.ErrUnavailable.Msg("reading the payout ledger: %v", err).Wrap(err)
		}
		e, err := s.decode(m.Data, m.Sequence)
		if err != nil {
			return nil, err
		}
		l.Apply(e, m.Sequence)
		seq = m.Sequence + 1
	}
	return l, nil
}

func (s *Store) decode(data []byte, seq uint64) (domain.Entry, error) {
	var env contracts.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return domain.Entry{}, fmt.Errorf("payout ledger sequence %d: %w", seq, err)
	}
	e, err := s.codec.Decode(env)
	if err != nil {
		return domain.Entry{}, fmt.Errorf("payout ledger sequence %d: %w", seq, err)
	}
	return e, nil
}

// Scan calls fn with each entry on the subjects filter matches from stream sequence from to
// to (inclusive), in order, through an ordered consumer.
func (s *Store) Scan(ctx context.Context, filter string, from, to uint64, fn func(e domain.Entry, seq uint64) error) error {
	// The whole stream is ledger entries: a scan of all of them (the history's rebuild) goes
	// unfiltered, so that its consumer's create subject is one the service's NATS user may
	// publish to. A filtered scan (one seller's replay) is for tests and operator tools.
	var filters []string
	if filter != s.Filter() {
		filters = []string{filter}
	}
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: filters, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from,
		// Gone soon after the scan (ordered consumers are not deleted by their reader).
		InactiveThreshold: 5 * time.Second,
	})
	if err != nil {
		return contracts.ErrUnavailable.Msg("reading the payout ledger: %v", err).Wrap(err)
	}
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return contracts.ErrUnavailable.Msg("reading the payout ledger: %v", err).Wrap(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			seq := meta.Sequence.Stream
			e, err := s.decode(m.Data(), seq)
			if err != nil {
				return err
			}
			if err := fn(e, seq); err != nil {
				return err
			}
			if seq >= to {
				return nil
			}
		}
		if err := batch.Error(); err != nil {
			return contracts.ErrUnavailable.Msg("reading the payout ledger: %v", err).Wrap(err)
		}
		if n == 0 {
			return contracts.ErrUnavailable.Msg("reading the payout ledger: sequence %d did not arrive", to)
		}
	}
}

// Filter matches every seller's ledger subject.
func (s *Store) Filter() string { return contracts.PayoutLedgerEvent.Filter() }

// LastSeq is the stream's last sequence (0 when empty).
func (s *Store) LastSeq(ctx context.Context) (uint64, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, contracts.ErrUnavailable.Msg("payout ledger info: %v", err).Wrap(err)
	}
	return info.State.LastSeq, nil
}

func (s *Store) snapshot(ctx context.Context, seller string) (*domain.Ledger, error) {
	kve, err := s.kv.Get(ctx, seller)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, contracts.ErrUnavailable.Msg("reading a payout snapshot: %v", err).Wrap(err)
	}
	var snap snapshot
	if json.Unmarshal(kve.Value(), &snap) != nil || snap.V != snapshotVersion || snap.Ledger == nil || snap.Ledger.SellerID != seller {
		return nil, nil // unreadable or of another layout: replay, the next snapshot replaces it
	}
	snap.Ledger.Restore(s.window)
	return snap.Ledger, nil
}

// SaveSnapshot stores l as seller's snapshot unless the stored one is as recent. Two writers
// racing keep the newer: the write is conditional on the revision read.
func (s *Store) SaveSnapshot(ctx context.Context, l *domain.Ledger) error {
	if !contracts.IsUUID(l.SellerID) {
		return contracts.ErrValidation.OnField("seller_id", "seller_id must be a valid id")
	}
	val, err := json.Marshal(snapshot{V: snapshotVersion, Ledger: l})
	if err != nil {
		return err
	}
	kve, err := s.kv.Get(ctx, l.SellerID)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		_, err = s.kv.Create(ctx, l.SellerID, val)
	case err != nil:
		return err
	default:
		var have snapshot
		if json.Unmarshal(kve.Value(), &have) == nil && have.Ledger != nil && have.Ledger.Seq >= l.Seq {
			return nil
		}
		_, err = s.kv.Update(ctx, l.SellerID, val, kve.Revision())
	}
	var apiErr *jetstream.APIError
	if errors.Is(err, jetstream.ErrKeyExists) || errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return nil // another writer stored one meanwhile
	}
	return err
}
