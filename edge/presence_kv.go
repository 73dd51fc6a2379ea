package edge

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/contracts"
)

// The presence bucket: reading a user's record and changing this instance's claim in it with
// compare-and-set.

// state reads a user's current presence from the bucket. When the bucket cannot be read the
// user is shown offline: presence is a hint, and the read is retried on every subscription.
func (p *presence) state(ctx context.Context, userID string) contracts.Presence {
	ctx, cancel := context.WithTimeout(ctx, presenceOpTimeout)
	defer cancel()
	out := contracts.Presence{UserID: userID}
	kv, err := p.bucket(ctx)
	if err == nil {
		var rec contracts.PresenceRecord
		if rec, _, err = p.read(ctx, kv, userID); err == nil && online(rec, time.Now()) {
			out.Online, out.At = true, rec.Since
		}
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		p.log.Warn("reading presence failed", "error", err)
	}
	p.observe(out)
	return out
}

func online(rec contracts.PresenceRecord, now time.Time) bool {
	for _, until := range rec.Edges {
		if until.After(now) {
			return true
		}
	}
	return false
}

func (p *presence) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	p.mu.Lock()
	kv := p.kv
	p.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	kv, err := p.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: contracts.PresenceBucket,
		Description: "edge instances' claims that a seller is online", History: 1, TTL: presenceGC,
		Storage: jetstream.FileStorage})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.kv = kv
	p.mu.Unlock()
	return kv, nil
}

// read returns a user's record and its revision (0 when there is none).
func (p *presence) read(ctx context.Context, kv jetstream.KeyValue, userID string) (contracts.PresenceRecord, uint64, error) {
	var rec contracts.PresenceRecord
	e, err := kv.Get(ctx, presenceKey(userID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return rec, 0, nil
	}
	if err != nil {
		return rec, 0, err
	}
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		p.log.Warn("ignoring an unreadable presence record", "key", e.Key(), "error", err)
		return contracts.PresenceRecord{}, e.Revision(), nil
	}
	return rec, e.Revision(), nil
}

// update sets or withdraws this instance's claim on a user with compare-and-set, retrying
// when another instance changed the record meanwhile, and publishes a change of the user's
// overall state.
func (p *presence) update(ctx context.Context, userID string, claim bool) error {
	kv, err := p.bucket(ctx)
	if err != nil {
		return err
	}
	key := presenceKey(userID)
	for range 16 {
		rec, rev, err := p.read(ctx, kv, userID)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		was := online(rec, now)
		for id, until := range rec.Edges {
			if !until.After(now) {
				delete(rec.Edges, id)
			}
		}
		if claim {
			if rec.Edges == nil {
				rec.Edges = map[string]time.Time{}
			}
			rec.Edges[p.id] = now.Add(p.ttl)
			if !was {
				rec.Since = now
			}
		} else {
			delete(rec.Edges, p.id)
		}
		is := len(rec.Edges) > 0
		switch {
		case !is && rev == 0:
			err = nil
		case !is:
			err = kv.Delete(ctx, key, jetstream.LastRevision(rev))
		case rev == 0:
			val, _ := json.Marshal(rec)
			_, err = kv.Create(ctx, key, val)
		default:
			val, _ := json.Marshal(rec)
			_, err = kv.Update(ctx, key, val, rev)
		}
		if err == nil {
			if was != is {
				p.publish(contracts.Presence{UserID: userID, Online: is, At: now})
			}
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return err
		}
	}
	return errors.New("presence record kept changing")
}

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
