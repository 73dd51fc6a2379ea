package docstore

import "context"

// WithoutIDIndex returns cfg without the _id indexes of idindex.go and
// pgidindex.go, for the external tests that compare plans.
func WithoutIDIndex(cfg Config) Config {
	cfg.noIDIndex = true
	return cfg
}

// PGIDIndexPasser runs the PostgreSQL _id indexer's passes on demand, for a
// benchmark of what one costs.
type PGIDIndexPasser struct{ x *pgIDIndexer }

func NewPGIDIndexPasser(url string) *PGIDIndexPasser {
	return &PGIDIndexPasser{&pgIDIndexer{url: url}}
}

func (p *PGIDIndexPasser) Pass(ctx context.Context) error { return p.x.pass(ctx) }

func (p *PGIDIndexPasser) Close(ctx context.Context) {
	if p.x.conn != nil {
		p.x.conn.Close(ctx)
	}
}
