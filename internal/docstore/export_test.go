package docstore

// WithoutIDIndex returns cfg without the _id indexes of idindex.go and
// pgidindex.go, for the external tests that compare plans.
func WithoutIDIndex(cfg Config) Config {
	cfg.noIDIndex = true
	return cfg
}
