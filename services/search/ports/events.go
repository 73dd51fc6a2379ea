package ports

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/search/app"
)

// CatalogSearchedConsumer is the durable consumer of catalog.searched on the CATALOG stream.
var CatalogSearchedConsumer = contracts.ConsumerSpec{
	Stream:         contracts.StreamCatalog,
	Durable:        "search_catalog_searched",
	FilterSubjects: []string{contracts.CatalogSearched.Filter()},
}

// CatalogSearched records every catalog search of a signed-in user. The events are keyed
// by user id, so one user's searches are applied in order (the history's "newest" is the last
// one searched) while different users run in parallel. An event whose data breaks the contract
// (no user, a blank or too long query) fails validation, which the runtime dead-letters at once.
func CatalogSearched(a *app.App, concurrency int) host.Consumer {
	h := bus.OnEvent(contracts.CatalogSearched, func(ctx context.Context, e bus.Event[contracts.SearchedData]) error {
		at := e.Data.At
		if at.IsZero() {
			at = e.OccurredAt
		}
		_, err := a.RecordEvent(ctx, e.ID, e.Data.UserID, e.Data.Query, at)
		return err
	})
	return host.Consumer{Spec: CatalogSearchedConsumer, Handler: h,
		Options: []bus.ConsumeOption{bus.WithKey(bus.SubjectKey), bus.WithConcurrency(concurrency)}}
}
