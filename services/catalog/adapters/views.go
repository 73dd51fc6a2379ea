package adapters

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/contracts"
)

// Views deduplicates product views with a KV bucket whose TTL is the dedup window: the first
// view by a viewer creates its key, and Create fails while the key exists.
type Views struct{ kv jetstream.KeyValue }

// NewViews creates or updates the dedup bucket with the given window.
func NewViews(ctx context.Context, js jetstream.JetStream, window time.Duration, replicas int) (*Views, error) {
	kv, err := ensureBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket: ViewsBucket, Description: "one view per viewer per product per window", TTL: window, History: 1,
		Storage: jetstream.FileStorage, Replicas: replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: views bucket: %w", err)
	}
	return &Views{kv: kv}, nil
}

// FirstView reports whether this is the viewer's first view of the product in the window.
func (v *Views) FirstView(ctx context.Context, productID, viewerKey string) (bool, error) {
	_, err := v.kv.Create(ctx, "v."+productID+"."+viewerKey, nil)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyExists):
		return false, nil
	}
	return false, contracts.ErrUnavailable.Msg("view dedup: %v", err).Wrap(err)
}

// Forget removes the viewer's key so that their next view counts.
func (v *Views) Forget(ctx context.Context, productID, viewerKey string) error {
	return v.kv.Delete(ctx, "v."+productID+"."+viewerKey)
}
